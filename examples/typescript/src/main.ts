// A TypeScript client of the OpenIntent protocol, written against types generated from
// api/openapi.yaml (openapi-typescript) and the openapi-fetch client: no hand-written wire type.
// Every answer is validated against the spec with ajv (spec.ts). Run it with `make example-ts`,
// which starts a server on a temporary store; or point OPENINTENT_URL and OPENINTENT_API_KEY at
// any server.
import { randomUUID } from "node:crypto";
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./generated/openapi.js";
import { checkPayload, checkResponse, checkSchema } from "./spec.js";
import { frames, type Frame } from "./sse.js";

type Intent = components["schemas"]["Intent"];
type IntentEvent = components["schemas"]["IntentEvent"];
type ApiError = components["schemas"]["Error"];

const baseUrl = process.env.OPENINTENT_URL ?? "http://127.0.0.1:8000";
const apiKey = process.env.OPENINTENT_API_KEY ?? "dev-user-key";
const agent = "typescript-agent";

let checked = 0;
// Every answer's body is checked against the schema the spec gives for its operation and status.
const validateAnswers: Middleware = {
  async onResponse({ request, response, schemaPath }) {
    const text = await response.clone().text();
    checkResponse(request.method, schemaPath, response.status, text === "" ? undefined : JSON.parse(text));
    checked++;
    return undefined;
  },
};

const client = createClient<paths>({ baseUrl, headers: { "X-API-Key": apiKey, "X-Agent-ID": agent } });
client.use(validateAnswers);

function step(what: string): void {
  console.log(`==> ${what}`);
}

/** Returns the data of a successful answer, or throws with the spec's Error body. */
function ok<T>(r: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (r.data === undefined) {
    throw new Error(`${what}: ${r.response.status} ${JSON.stringify(r.error)}`);
  }
  return r.data;
}

function assert(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

async function main(): Promise<void> {
  step("create an intent (with an Idempotency-Key, sent twice: the second answer is a replay)");
  const key = randomUUID();
  const body = { title: "Research market trends", description: "Analyze Q4 market data", state: { progress: 0 } };
  const created = await client.POST("/api/v1/intents", { body, params: { header: { "Idempotency-Key": key } } });
  let intent: Intent = ok(created, "createIntent");
  const again = await client.POST("/api/v1/intents", { body, params: { header: { "Idempotency-Key": key } } });
  assert(ok(again, "createIntent (retry)").id === intent.id, "a retry with the same key answers the same intent");
  assert(again.response.headers.get("Idempotent-Replayed") === "true", "the retry is marked Idempotent-Replayed");
  console.log(`    intent ${intent.id}, version ${intent.version}, status ${intent.status}`);

  step("patch its state with the version read (If-Match), then with a stale one: 409");
  const path = { intent_id: intent.id };
  const stale = intent.version;
  intent = ok(
    await client.POST("/api/v1/intents/{intent_id}/state", {
      params: { path, header: { "If-Match": intent.version } },
      body: { patches: [{ op: "set", path: "/progress", value: 0.5 }, { op: "append", path: "/findings", value: "Q4 revenue up 12%" }] },
    }),
    "patchIntentState",
  );
  assert(intent.version === stale + 1, "the patch made a new version");
  const conflict = await client.POST("/api/v1/intents/{intent_id}/state", {
    params: { path, header: { "If-Match": stale } },
    body: { state: { progress: 0.9 } },
  });
  const err = conflict.error as ApiError | undefined;
  assert(conflict.response.status === 409 && err?.code === "version_conflict", `a stale version answers 409 version_conflict, got ${conflict.response.status}`);
  assert(err.current_version === intent.version, "the 409 names the current version");
  console.log(`    version ${intent.version}; stale version ${stale} refused with ${err.code} (current ${err.current_version})`);

  step("append an event and list the intent's events (payloads checked against their types' schemas)");
  ok(
    await client.POST("/api/v1/intents/{intent_id}/events", {
      params: { path },
      body: { event_type: "comment", actor: agent, payload: { note: "halfway there" } },
    }),
    "createIntentEvent",
  );
  const listed = ok(await client.GET("/api/v1/intents/{intent_id}/events", { params: { path } }), "listIntentEvents");
  const events: IntentEvent[] = Array.isArray(listed) ? listed : [];
  let typed = 0;
  for (const ev of events) if (checkPayload(ev.event_type, ev.payload)) typed++;
  assert(events.some((e) => e.event_type === "comment"), "the comment is listed");
  console.log(`    ${events.length} events (${events.map((e) => e.event_type).join(", ")}); ${typed} payloads checked`);

  step("take a lease on a scope and release it");
  const lease = ok(
    await client.POST("/api/v1/intents/{intent_id}/leases", { params: { path }, body: { scope: "analysis", duration_seconds: 60 } }),
    "acquireIntentLease",
  );
  assert(lease.status === "active", "the lease is active");
  ok(await client.DELETE("/api/v1/intents/{intent_id}/leases/{lease_id}", { params: { path: { ...path, lease_id: lease.id } } }), "releaseIntentLease");
  console.log(`    lease ${lease.id} on ${lease.scope} acquired and released`);

  step("follow the intent's event stream from its start (Last-Event-ID: 0)");
  const seen = await followStream(intent.id, 4);
  console.log(`    ${seen.map((f) => `${f.id}:${f.event}`).join(", ")}`);

  step("create a portfolio with the intent, a task and a memory entry");
  const portfolio = ok(await client.POST("/api/v1/portfolios", { body: { name: "Q4 research", description: "Everything for the Q4 report" } }), "createPortfolio");
  ok(
    await client.POST("/api/v1/portfolios/{portfolio_id}/intents", {
      params: { path: { portfolio_id: portfolio.id } },
      body: { intent_id: intent.id, role: "primary" },
    }),
    "addPortfolioIntent",
  );
  const task = ok(await client.POST("/api/v1/tasks", { body: { intent_id: intent.id, name: "fetch-sales-data", input: { quarter: "Q4" } } }), "createTask");
  const memory = ok(
    await client.POST("/api/v1/memory", { body: { namespace: "research", key: "q4-sources", value: { sources: ["warehouse", "crm"] } } }),
    "createMemoryEntry",
  );
  console.log(`    portfolio ${portfolio.id}, task ${task.id} (${task.status}), memory ${memory.namespace}/${memory.key} v${memory.version}`);

  console.log(`==> done: ${checked} answers and ${seen.length} stream frames matched the spec`);
}

/** Reads the stream until it has `want` event frames; checks each against IntentEventFrame. */
async function followStream(intentID: string, want: number): Promise<Frame[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 10_000);
  try {
    const res = await fetch(`${baseUrl}/api/v1/subscribe/intents/${encodeURIComponent(intentID)}`, {
      headers: { "X-API-Key": apiKey, "X-Agent-ID": agent, Accept: "text/event-stream", "Last-Event-ID": "0" },
      signal: abort.signal,
    });
    assert(res.ok && res.body, `the stream answers 200, got ${res.status}`);
    assert(res.headers.get("content-type")?.startsWith("text/event-stream"), "the stream is text/event-stream");
    const out: Frame[] = [];
    for await (const frame of frames(res.body)) {
      checkSchema("IntentEventFrame", frame);
      if (frame.event === undefined) continue; // the opening frame: retry and where the stream starts
      const ev = frame.data as IntentEvent;
      assert(frame.event === ev.event_type && frame.id === String(ev.sequence), "a frame's event and id are its event's type and sequence");
      checkPayload(ev.event_type, ev.payload);
      out.push(frame);
      if (out.length === want) break;
    }
    return out;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
