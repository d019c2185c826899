// Validation against api/openapi.yaml with ajv: every answer the example gets is checked against
// the schema the spec gives for its operation and status, every event payload against its type's
// schema (EventType's x-payload-schemas), every stream frame against IntentEventFrame.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv, type ValidateFunction } from "ajv";
import formats from "ajv-formats";
import { parse } from "yaml";

// ajv-formats is CommonJS: imported from an ES module, its plugin is the `default` member.
const addFormats = formats.default;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Doc = { [key: string]: Json };

const specPath = process.env.OPENINTENT_SPEC ?? fileURLToPath(new URL("../../../api/openapi.yaml", import.meta.url));
const spec = parse(readFileSync(specPath, "utf8")) as Doc;

const ajv = new Ajv({
  strict: false, // the spec carries OpenAPI keywords (example, x-*) that are not JSON Schema
  validateSchema: false, // the document is OpenAPI, not a JSON Schema: only its fragments are compiled
  allErrors: true,
});
addFormats(ajv);
for (const f of ["int32", "int64", "float", "double", "byte", "binary", "password"]) {
  ajv.addFormat(f, true); // OpenAPI's numeric and string formats: the type says it all
}
ajv.addSchema(spec as object, "openapi");

function escape(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

function at(pointer: string[]): Json | undefined {
  let node: Json | undefined = spec;
  for (const p of pointer) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) return undefined;
    node = node[p];
  }
  return node;
}

const compiled = new Map<string, ValidateFunction>();

function validator(pointer: string[]): ValidateFunction {
  const key = "openapi#/" + pointer.map(escape).join("/");
  let v = compiled.get(key);
  if (!v) {
    v = ajv.getSchema(key);
    if (!v) throw new Error(`spec: no schema at ${key}`);
    compiled.set(key, v);
  }
  return v;
}

function check(v: ValidateFunction, value: unknown, what: string): void {
  if (!v(value)) {
    throw new Error(`${what} does not match the spec: ${ajv.errorsText(v.errors, { separator: "; " })}\n${JSON.stringify(value)}`);
  }
}

/** Checks an answer's body against the schema the spec gives for its operation and status. */
export function checkResponse(method: string, schemaPath: string, status: number, body: unknown): void {
  const op = ["paths", schemaPath, method.toLowerCase()];
  let response: string[] = [...op, "responses", String(status)];
  const node = at(response);
  if (node === undefined) throw new Error(`${method} ${schemaPath}: the spec documents no ${status}`);
  if (node !== null && typeof node === "object" && !Array.isArray(node) && typeof node["$ref"] === "string") {
    response = node["$ref"].replace(/^#\//, "").split("/");
  }
  const schema = [...response, "content", "application/json", "schema"];
  if (at(schema) === undefined) {
    if (body !== undefined) throw new Error(`${method} ${schemaPath} ${status}: the spec documents no JSON body`);
    return;
  }
  check(validator(schema), body, `${method} ${schemaPath} -> ${status}`);
}

/** Checks a value against a component schema. */
export function checkSchema(name: string, value: unknown): void {
  check(validator(["components", "schemas", name]), value, name);
}

/** Checks an event's payload against the schema its type maps to (EventType's x-payload-schemas). */
export function checkPayload(eventType: string, payload: unknown): boolean {
  const ref = at(["components", "schemas", "EventType", "x-payload-schemas", eventType, "$ref"]);
  if (typeof ref !== "string") return false; // a type the spec does not know: kept as it is
  check(validator(ref.replace(/^#\//, "").split("/")), payload, `payload of ${eventType}`);
  return true;
}
