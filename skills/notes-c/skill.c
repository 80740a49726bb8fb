// A first-party Chitin skill in C: notes in the granted directory through
// plain stdio (wasi-libc maps it to the host's preopened directory; nothing
// else exists for the skill). `skill.h` is generated from the contract by
// `chitin skill build`. Everything returned must be heap memory (the
// generated post-return code frees it); the callee frees `name` and `input`.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "skill.h"

static void tool(exports_chitin_skill_tools_tool_t *t, const char *name, const char *desc,
                 const char *schema, int effect) {
  skill_string_dup(&t->name, name);
  skill_string_dup(&t->description, desc);
  skill_string_dup(&t->input_schema, schema);
  t->effects.len = effect < 0 ? 0 : 1;
  t->effects.ptr = effect < 0 ? NULL : calloc(1, sizeof(chitin_skill_types_effect_t));
  if (effect >= 0) t->effects.ptr[0].tag = (uint8_t)effect;
}

void exports_chitin_skill_tools_list_tools(exports_chitin_skill_tools_list_tool_t *ret) {
  ret->len = 3;
  ret->ptr = calloc(3, sizeof(exports_chitin_skill_tools_tool_t));
  tool(&ret->ptr[0], "read", "Read a note from the notes directory.",
       "{\"type\":\"object\",\"required\":[\"path\"],\"properties\":{\"path\":{\"type\":\"string\"}}}",
       CHITIN_SKILL_TYPES_EFFECT_READS_FILES);
  tool(&ret->ptr[1], "write", "Write a note to the notes directory.",
       "{\"type\":\"object\",\"required\":[\"path\",\"content\"],\"properties\":{\"path\":{\"type\":\"string\"},\"content\":{\"type\":\"string\"}}}",
       CHITIN_SKILL_TYPES_EFFECT_WRITES_FILES);
  tool(&ret->ptr[2], "spin", "Loop forever (used to test the CPU limit).", "{\"type\":\"object\"}", -1);
}

static bool fail(exports_chitin_skill_tools_tool_error_t *err, uint8_t tag, const char *msg) {
  err->tag = tag;
  skill_string_dup(&err->val.failed, msg);  // every case holds a string at the same place
  return false;
}

// The string value of "key" in a flat JSON object (no escapes), or NULL.
static char *field(const char *in, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *k = strstr(in, pat);
  const char *q = k ? strchr(k + strlen(pat), '"') : NULL;
  const char *e = q ? strchr(q + 1, '"') : NULL;
  return e ? strndup(q + 1, (size_t)(e - q - 1)) : NULL;
}

static bool io_error(exports_chitin_skill_tools_tool_error_t *err, const char *path) {
  char msg[4200];
  snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
  int denied = errno == EACCES || errno == EPERM || errno == ENOTCAPABLE || errno == EROFS;
  return fail(err, denied ? CHITIN_SKILL_TYPES_TOOL_ERROR_DENIED : CHITIN_SKILL_TYPES_TOOL_ERROR_FAILED, msg);
}

static bool read_note(const char *path, skill_string_t *ret, exports_chitin_skill_tools_tool_error_t *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return io_error(err, path);
  size_t cap = 4096, len = 0, r;
  char *buf = malloc(cap + 1);
  while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
    len += r;
    if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
  }
  fclose(f);
  buf[len] = 0;
  ret->ptr = (uint8_t *)buf;
  ret->len = len;
  return true;
}

static bool write_note(const char *path, const char *content, skill_string_t *ret,
                       exports_chitin_skill_tools_tool_error_t *err) {
  FILE *f = fopen(path, "wb");
  if (!f) return io_error(err, path);
  size_t n = fwrite(content, 1, strlen(content), f);
  if (fclose(f) != 0) return io_error(err, path);
  char msg[64];
  snprintf(msg, sizeof msg, "{\"written\":%zu}", n);
  skill_string_dup(ret, msg);
  return true;
}

bool exports_chitin_skill_tools_call(skill_string_t *name, skill_string_t *input, skill_string_t *ret,
                                     exports_chitin_skill_tools_tool_error_t *err) {
  char *n = strndup((const char *)name->ptr, name->len);
  char *in = strndup((const char *)input->ptr, input->len);
  skill_string_free(name);
  skill_string_free(input);
  bool ok;
  char *rel = field(in, "path");
  char full[4096];
  snprintf(full, sizeof full, "/workspace/%s", rel ? rel : "");
  if (strcmp(n, "spin") == 0) {
    volatile unsigned long i = 0;
    for (;;) i++;
  } else if ((strcmp(n, "read") == 0 || strcmp(n, "write") == 0) && !rel) {
    ok = fail(err, CHITIN_SKILL_TYPES_TOOL_ERROR_INVALID_INPUT, "`path` must be a string");
  } else if (strcmp(n, "read") == 0) {
    ok = read_note(full, ret, err);
  } else if (strcmp(n, "write") == 0) {
    char *content = field(in, "content");
    ok = content ? write_note(full, content, ret, err)
                 : fail(err, CHITIN_SKILL_TYPES_TOOL_ERROR_INVALID_INPUT, "`content` must be a string");
    free(content);
  } else {
    ok = fail(err, CHITIN_SKILL_TYPES_TOOL_ERROR_UNKNOWN_TOOL, n);
  }
  free(rel);
  free(n);
  free(in);
  return ok;
}
