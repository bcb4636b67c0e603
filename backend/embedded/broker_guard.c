/*
 * riskmap broker guard: a Mosquitto 2 plugin for what its ACL file cannot say.
 *
 * Mosquitto's acl_file grants every SUBSCRIBE (the read ACL only filters delivery), so a gateway
 * could join the ingester's shared-subscription group and have the broker throw away its share of
 * everyone's readings; and Mosquitto does not bind client ids to user names, so a gateway could
 * take over the ingester's (or another gateway's) session. This plugin reads a rules file written
 * by riskmap from the gateway register and, for each user named in it:
 *   - refuses a CONNECT whose client id is not the user name, or from a disabled user;
 *   - refuses any SUBSCRIBE to a filter not listed for the user (no share groups, no wildcards);
 *   - refuses a retained PUBLISH to a topic not listed as retainable for the user.
 * Users not named (the platform's own) are left to the password and ACL files. The file is read
 * again on SIGHUP; disabled users still connected are disconnected then.
 *
 * Rules file, one rule a line ('#' starts a comment):
 *   user <name>            the user is a gateway: the rules below apply to it
 *   sub <name> <filter>    it may subscribe to exactly this filter
 *   retain <name> <topic>  it may publish retained messages to exactly this topic
 *   disabled <name>        it may not connect (and is disconnected on reload)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define MAX_LINE 4096 /* longer lines are skipped whole */

enum rule_kind { RULE_USER, RULE_SUB, RULE_RETAIN, RULE_DISABLED };

struct rule {
	enum rule_kind kind;
	char *name;
	char *topic;
};

struct rules {
	struct rule *items;
	size_t count;
};

static mosquitto_plugin_id_t *plugin_id = NULL;
static char *rules_path = NULL;
static struct rules current = {NULL, 0};

static void rules_free(struct rules *r)
{
	for (size_t i = 0; i < r->count; i++) {
		free(r->items[i].name);
		free(r->items[i].topic);
	}
	free(r->items);
	r->items = NULL;
	r->count = 0;
}

static int rules_add(struct rules *r, enum rule_kind kind, const char *name, const char *topic)
{
	struct rule *grown = realloc(r->items, (r->count + 1) * sizeof(struct rule));
	if (!grown) return MOSQ_ERR_NOMEM;
	r->items = grown;
	char *n = strdup(name);
	char *t = strdup(topic ? topic : "");
	if (!n || !t) {
		free(n);
		free(t);
		return MOSQ_ERR_NOMEM;
	}
	r->items[r->count].kind = kind;
	r->items[r->count].name = n;
	r->items[r->count].topic = t;
	r->count++;
	return MOSQ_ERR_SUCCESS;
}

/* Rules are kept sorted by (kind, name, topic): every check is a binary search, because the
 * broker asks on every publish and every delivery. */
static int rule_cmp(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;
	if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->topic, y->topic);
}

/* Read the rules file; on any error the old rules stay in force. */
static int rules_load(void)
{
	FILE *f = fopen(rules_path, "r");
	if (!f) {
		mosquitto_log_printf(MOSQ_LOG_ERR, "broker_guard: cannot open %s", rules_path);
		return MOSQ_ERR_UNKNOWN;
	}
	struct rules fresh = {NULL, 0};
	char line[MAX_LINE];
	int rc = MOSQ_ERR_SUCCESS;
	int skipping = 0;
	while (fgets(line, sizeof line, f)) {
		size_t len = strlen(line);
		int complete = len > 0 && (line[len - 1] == '\n' || feof(f));
		if (skipping) { /* the tail of an overlong line */
			skipping = !complete;
			continue;
		}
		if (!complete) { /* the start of an overlong line: never a rule */
			skipping = 1;
			continue;
		}
		char *save = NULL;
		char *word = strtok_r(line, " \t\r\n", &save);
		if (!word || word[0] == '#') continue;
		char *name = strtok_r(NULL, " \t\r\n", &save);
		char *topic = strtok_r(NULL, " \t\r\n", &save);
		if (!name) continue;
		if (!strcmp(word, "user")) rc = rules_add(&fresh, RULE_USER, name, NULL);
		else if (!strcmp(word, "disabled")) rc = rules_add(&fresh, RULE_DISABLED, name, NULL);
		else if (!strcmp(word, "sub") && topic) rc = rules_add(&fresh, RULE_SUB, name, topic);
		else if (!strcmp(word, "retain") && topic) rc = rules_add(&fresh, RULE_RETAIN, name, topic);
		if (rc != MOSQ_ERR_SUCCESS) break;
	}
	fclose(f);
	if (rc != MOSQ_ERR_SUCCESS) {
		rules_free(&fresh);
		return rc;
	}
	if (fresh.count) qsort(fresh.items, fresh.count, sizeof(struct rule), rule_cmp);
	rules_free(&current);
	current = fresh;
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "broker_guard: %zu rules from %s", current.count, rules_path);
	return MOSQ_ERR_SUCCESS;
}

static int has_rule(enum rule_kind kind, const char *name, const char *topic)
{
	if (!current.count) return 0;
	struct rule key = {kind, (char *)name, (char *)(topic ? topic : "")};
	return bsearch(&key, current.items, current.count, sizeof(struct rule), rule_cmp) != NULL;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	(void)event;
	(void)userdata;
	if (!ed->username) return MOSQ_ERR_PLUGIN_DEFER;
	if (has_rule(RULE_DISABLED, ed->username, NULL)) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "broker_guard: refused disabled user %.64s", ed->username);
		return MOSQ_ERR_AUTH;
	}
	if (!has_rule(RULE_USER, ed->username, NULL)) return MOSQ_ERR_PLUGIN_DEFER;
	const char *id = mosquitto_client_id(ed->client);
	if (!id || strcmp(id, ed->username) != 0) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "broker_guard: refused user %.64s with client id %.64s", ed->username,
							 id ? id : "(none)");
		return MOSQ_ERR_AUTH;
	}
	return MOSQ_ERR_PLUGIN_DEFER; /* the password file decides the password */
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	(void)event;
	(void)userdata;
	/* Only subscriptions and retained publishes are ours to judge: leave the rest at once. */
	if (ed->access != MOSQ_ACL_SUBSCRIBE && !(ed->access == MOSQ_ACL_WRITE && ed->retain)) return MOSQ_ERR_PLUGIN_DEFER;
	const char *user = mosquitto_client_username(ed->client);
	if (!user || !has_rule(RULE_USER, user, NULL)) return MOSQ_ERR_PLUGIN_DEFER;
	if (ed->access == MOSQ_ACL_SUBSCRIBE) {
		if (has_rule(RULE_SUB, user, ed->topic)) return MOSQ_ERR_PLUGIN_DEFER;
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "broker_guard: refused subscription of %.64s to %.128s", user, ed->topic);
		return MOSQ_ERR_ACL_DENIED;
	}
	if (!has_rule(RULE_RETAIN, user, ed->topic)) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "broker_guard: refused retained message of %.64s to %.128s", user, ed->topic);
		return MOSQ_ERR_ACL_DENIED;
	}
	return MOSQ_ERR_PLUGIN_DEFER;
}

static int on_reload(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)event_data;
	(void)userdata;
	int rc = rules_load();
	for (size_t i = 0; rc == MOSQ_ERR_SUCCESS && i < current.count; i++) {
		if (current.items[i].kind == RULE_DISABLED) mosquitto_kick_client_by_username(current.items[i].name, false);
	}
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++) {
		if (supported_versions[i] == 5) return 5;
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *opts, int opt_count)
{
	(void)userdata;
	plugin_id = identifier;
	for (int i = 0; i < opt_count; i++) {
		if (!strcmp(opts[i].key, "rules_file")) rules_path = strdup(opts[i].value);
	}
	if (!rules_path) {
		mosquitto_log_printf(MOSQ_LOG_ERR, "broker_guard: plugin_opt_rules_file is required");
		return MOSQ_ERR_INVAL;
	}
	int rc = rules_load();
	if (rc != MOSQ_ERR_SUCCESS) return rc;
	if ((rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL))) return rc;
	if ((rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL))) return rc;
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_RELOAD, on_reload, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
	(void)userdata;
	(void)opts;
	(void)opt_count;
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_RELOAD, on_reload, NULL);
	rules_free(&current);
	free(rules_path);
	rules_path = NULL;
	return MOSQ_ERR_SUCCESS;
}
