// ESLint for the map's scripts: plain browser scripts (no bundler) that share window.RiskMap and
// use Leaflet's global L. The vendored libraries are not ours to lint.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["maps/static/vendor/**", "node_modules/**", ".venv/**", "build/**", "test-artifacts/**"] },
  js.configs.recommended,
  {
    files: ["maps/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: "script",
      globals: { ...globals.browser, L: "readonly" },
    },
    rules: {
      strict: ["error", "function"],
      eqeqeq: ["error", "smart"],
      "no-implicit-globals": "error",
      "no-shadow": "error",
      "no-use-before-define": ["error", { functions: false }],
      "no-unused-vars": ["error", { args: "after-used" }],
      "no-eval": "error",
      "no-implied-eval": "error",
      curly: ["error", "multi-line"],
    },
  },
  {
    files: ["eslint.config.mjs"],
    languageOptions: { sourceType: "module", globals: globals.node },
  },
];
