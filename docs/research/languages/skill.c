// A two-tool Chitin skill in C: `echo` and `read` (a file under /workspace).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "skill.h"

static void tool(exports_chitin_skill_tools_tool_t *t, const char *name,
                 const char *desc, const char *schema, int reads_files) {
  skill_string_dup(&t->name, name);
  skill_string_dup(&t->description, desc);
  skill_string_dup(&t->input_schema, schema);
  t->effects.len = reads_files ? 1 : 0;
  t->effects.ptr = reads_files ? calloc(1, sizeof(chitin_skill_types_effect_t)) : NULL;
  if (reads_files) t->effects.ptr[0].tag = CHITIN_SKILL_TYPES_EFFECT_READS_FILES;
}

// Results are freed by the generated post-return code: everything returned
// must be heap-allocated (skill_string_dup, malloc), never static.
void exports_chitin_skill_tools_list_tools(exports_chitin_skill_tools_list_tool_t *ret) {
  ret->len = 2;
  ret->ptr = calloc(2, sizeof(exports_chitin_skill_tools_tool_t));
  tool(&ret->ptr[0], "echo", "Return the input unchanged.", "{\"type\":\"object\"}", 0);
  tool(&ret->ptr[1], "read", "Read a file under /workspace.",
       "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},\"required\":[\"path\"]}", 1);
}

static bool fail(exports_chitin_skill_tools_tool_error_t *err, uint8_t tag, const char *msg) {
  err->tag = tag;
  skill_string_dup(&err->val.failed, msg);  // every case is a string at the same offset
  return false;
}

// Minimal extraction of "path":"..." (no JSON library, to stay tiny).
static char *json_path(const char *in, size_t len) {
  const char *k = strstr(in, "\"path\"");
  if (!k) return NULL;
  k = strchr(k + 6, '"');
  if (!k) return NULL;
  const char *e = strchr(k + 1, '"');
  if (!e || e > in + len) return NULL;
  return strndup(k + 1, (size_t)(e - k - 1));
}

bool exports_chitin_skill_tools_call(skill_string_t *name, skill_string_t *input,
                                     skill_string_t *ret,
                                     exports_chitin_skill_tools_tool_error_t *err) {
  char *n = strndup((const char *)name->ptr, name->len);
  char *in = strndup((const char *)input->ptr, input->len);
  skill_string_free(name);
  skill_string_free(input);
  bool ok;
  if (strcmp(n, "echo") == 0) {
    skill_string_t msg;
    skill_string_set(&msg, "echo called");
    chitin_skill_log_log(CHITIN_SKILL_LOG_LEVEL_INFO, &msg);
    skill_string_dup(ret, in);
    ok = true;
  } else if (strcmp(n, "read") == 0) {
    char *p = json_path(in, strlen(in));
    if (!p) {
      ok = fail(err, CHITIN_SKILL_TYPES_TOOL_ERROR_INVALID_INPUT, "`path` must be a string");
    } else {
      char full[4096];
      snprintf(full, sizeof full, "/workspace/%s", p);
      free(p);
      FILE *f = fopen(full, "rb");
      if (!f) {
        char msg[4200];
        snprintf(msg, sizeof msg, "%s: %s", full, strerror(errno));
        ok = fail(err, errno == EACCES || errno == ENOTCAPABLE || errno == EPERM
                           ? CHITIN_SKILL_TYPES_TOOL_ERROR_DENIED
                           : CHITIN_SKILL_TYPES_TOOL_ERROR_FAILED, msg);
      } else {
        size_t cap = 4096, len = 0, r;
        char *buf = malloc(cap);
        while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
          len += r;
          if (len == cap) buf = realloc(buf, cap *= 2);
        }
        fclose(f);
        ret->ptr = (uint8_t *)buf;
        ret->len = len;
        ok = true;
      }
    }
  } else {
    ok = fail(err, CHITIN_SKILL_TYPES_TOOL_ERROR_UNKNOWN_TOOL, n);
  }
  free(n);
  free(in);
  return ok;
}
