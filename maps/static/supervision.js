/* The supervision pages: the roster upload's file picker says, in Chinese, which file is chosen
 * (the browser's own picker speaks the browser's language). */
(function () {
  "use strict";

  document.querySelectorAll("label.file input[type=file]").forEach(function (input) {
    var chosen = input.parentNode.querySelector(".chosen");
    input.addEventListener("change", function () {
      chosen.textContent = input.files.length ? input.files[0].name : "未选择文件";
    });
  });
})();
