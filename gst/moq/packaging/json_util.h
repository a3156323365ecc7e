// Type-checked reads from json-glib objects (and the few writes the catalogs share): a catalog comes from the network, and json-glib's
// own getters emit CRITICALs (fatal in our tests) when a member has an unexpected type.
#pragma once

#include <json-glib/json-glib.h>

#include <string>

namespace moqgst::packaging::json {

inline JsonNode* value(JsonObject* o, const char* name) {
  JsonNode* n = o ? json_object_get_member(o, name) : nullptr;
  return n && JSON_NODE_HOLDS_VALUE(n) ? n : nullptr;
}
inline const char* string(JsonObject* o, const char* name, const char* fallback = nullptr) {
  JsonNode* n = value(o, name);
  return n && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n) : fallback;
}
// Integers and whole doubles; anything else (or out of range) gives the fallback.
inline gint64 integer(JsonObject* o, const char* name, gint64 fallback = 0) {
  JsonNode* n = value(o, name);
  if (!n) return fallback;
  const GType t = json_node_get_value_type(n);
  if (t == G_TYPE_INT64) return json_node_get_int(n);
  if (t == G_TYPE_DOUBLE) {
    const double d = json_node_get_double(n);
    return d >= -9e15 && d <= 9e15 ? gint64(d) : fallback;
  }
  return fallback;
}
inline double number(JsonObject* o, const char* name, double fallback = 0) {
  JsonNode* n = value(o, name);
  if (!n) return fallback;
  const GType t = json_node_get_value_type(n);
  if (t == G_TYPE_INT64) return double(json_node_get_int(n));
  if (t == G_TYPE_DOUBLE) return json_node_get_double(n);
  return fallback;
}
inline JsonObject* object(JsonObject* o, const char* name) {
  JsonNode* n = o ? json_object_get_member(o, name) : nullptr;
  return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : nullptr;
}
inline JsonArray* array(JsonObject* o, const char* name) {
  JsonNode* n = o ? json_object_get_member(o, name) : nullptr;
  return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : nullptr;
}

// Parses `text`; null (and why) unless it is a JSON object. Free with g_object_unref(*parser).
inline JsonObject* parse_object(const std::string& text, JsonParser** parser, std::string* error) {
  *parser = json_parser_new();
  GError* err = nullptr;
  if (!json_parser_load_from_data(*parser, text.data(), gssize(text.size()), &err)) {
    if (error) *error = std::string("catalog is not JSON: ") + err->message;
    g_error_free(err);
    return nullptr;
  }
  JsonNode* root = json_parser_get_root(*parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    if (error) *error = "catalog is not a JSON object";
    return nullptr;
  }
  return json_node_get_object(root);
}

// Writing: members of the object being built, and the finished text (frees the builder).
inline void member_int(JsonBuilder* b, const char* name, gint64 v) {
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, v);
}
inline void member_string(JsonBuilder* b, const char* name, const char* v) {
  json_builder_set_member_name(b, name);
  json_builder_add_string_value(b, v);
}
inline std::string finish(JsonBuilder* b) {
  JsonGenerator* g = json_generator_new();
  JsonNode* root = json_builder_get_root(b);
  json_generator_set_root(g, root);
  gchar* text = json_generator_to_data(g, nullptr);
  std::string out(text);
  g_free(text);
  json_node_unref(root);
  g_object_unref(g);
  g_object_unref(b);
  return out;
}

}  // namespace moqgst::packaging::json
