// A Chitin skill in C (clang + wasi-libc). `skill.h` is generated from the
// contract at build time. Everything returned must be heap memory: the
// generated post-return code frees it. The callee frees `name` and `input`.
#include <stdlib.h>
#include <string.h>
#include "skill.h"

void exports_chitin_skill_tools_list_tools(exports_chitin_skill_tools_list_tool_t *ret) {
  ret->len = 1;
  ret->ptr = calloc(1, sizeof(exports_chitin_skill_tools_tool_t));
  skill_string_dup(&ret->ptr[0].name, "greet");
  skill_string_dup(&ret->ptr[0].description, "Say hello to someone.");
  skill_string_dup(&ret->ptr[0].input_schema,
                   "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"}}}");
}

bool exports_chitin_skill_tools_call(skill_string_t *name, skill_string_t *input,
                                     skill_string_t *ret,
                                     exports_chitin_skill_tools_tool_error_t *err) {
  char *n = strndup((const char *)name->ptr, name->len);
  char *in = strndup((const char *)input->ptr, input->len);
  skill_string_free(name);
  skill_string_free(input);
  bool ok = false;
  if (strcmp(n, "greet") == 0) {
    // Tiny extraction of "name":"..." to stay dependency-free.
    const char *k = strstr(in, "\"name\"");
    const char *q = k ? strchr(k + 6, '"') : NULL;
    const char *e = q ? strchr(q + 1, '"') : NULL;
    if (e) {
      size_t len = (size_t)(e - q - 1);
      char *out = malloc(len + 8);
      memcpy(out, "hello, ", 7);
      memcpy(out + 7, q + 1, len);
      out[len + 7] = 0;
      skill_string_dup(ret, out);
      free(out);
      ok = true;
    } else {
      err->tag = CHITIN_SKILL_TYPES_TOOL_ERROR_INVALID_INPUT;
      skill_string_dup(&err->val.invalid_input, "`name` must be a string");
    }
  } else {
    err->tag = CHITIN_SKILL_TYPES_TOOL_ERROR_UNKNOWN_TOOL;
    skill_string_dup(&err->val.unknown_tool, n);
  }
  free(n);
  free(in);
  return ok;
}
