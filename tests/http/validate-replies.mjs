// Validates the replies the HTTP suite saw against openapi.yaml, with express-openapi-validator (a
// real OpenAPI 3.1 request and response validator, pinned in package.json).
//
//   node validate-replies.mjs SPEC RECORDS.jsonl
//
// RECORDS.jsonl has one reply a line: {method, target, status, headers (lower-case names), body
// (base64)}. Prints {checked, by_rule, mismatches: [{method, target, status, contentType, problem,
// body}]} and exits 1 when anything does not fit.
//
// Each reply is matched to the document's path template as the server's router matches (a {param}
// is one non-empty segment) and then checked:
//   - its status is declared by the operation; its media type is one the response declares (no
//     body where none is declared); the response headers declared `required` are there (integers
//     where the schema says integer); a PNG is a PNG; the served document is this document;
//   - a JSON body is replayed through an Express app guarded by express-openapi-validator, which
//     validates it against the operation's response schema for that status and media type.
// What an OpenAPI document cannot describe is checked by these rules instead, each counted:
//   - libmicrohttpd's own replies (its HTML pages for requests it refuses before the server sees
//     them: malformed framing, oversized headers, an unsupported HTTP version): out of the
//     document's reach, excluded when they have no content type (or text/html), an HTML body and
//     one of libmicrohttpd's statuses (the server itself never sends HTML);
//   - a path the document does not have: a 404 (or a framing 400/501, checked before routing) with
//     the document's Error schema, or OipError under /v2, validated like an operation's reply;
//   - OPTIONS (the CORS preflight every route answers): 204, no body, Allow listing the path's
//     methods;
//   - HEAD: as the path's GET (status, media type, headers) but without a body;
//   - a method the path does not declare: validated as a reply of the path's declared operation
//     (so a 405 with Allow, or a framing error).
import { readFile } from "node:fs/promises";
import express from "express";
import * as OpenApiValidator from "express-openapi-validator";
import { parse } from "yaml";

const [specPath, recordsPath] = process.argv.slice(2);
if (!specPath || !recordsPath) {
	console.error("usage: node validate-replies.mjs SPEC RECORDS.jsonl");
	process.exit(2);
}
const specText = await readFile(specPath, "utf-8");
const spec = parse(specText);
const records = (await readFile(recordsPath, "utf-8"))
	.split("\n")
	.filter((line) => line.trim())
	.map((line) => JSON.parse(line));

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const MHD_STATUSES = new Set([400, 413, 414, 431, 500, 505]);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const UNROUTED = { native: "/__unrouted__", oip: "/v2/__unrouted__" };

// --- the document -------------------------------------------------------------------------------

function resolve(obj) {
	while (obj && obj.$ref) {
		obj = obj.$ref
			.replace(/^#\//, "")
			.split("/")
			.reduce((o, k) => o[k.replace(/~1/g, "/").replace(/~0/g, "~")], spec);
	}
	return obj;
}

const templates = Object.keys(spec.paths).map((template) => ({
	template,
	regexp: new RegExp(
		"^" + template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+") + "$",
	),
}));

function matchTemplate(path) {
	const found = templates.find((t) => t.regexp.test(path));
	return found ? found.template : null;
}

// the copy the validator gets: two extra paths stand for every path the document does not have
function unroutedOperation(schema) {
	const reply = (description) => ({
		description,
		content: { "application/json": { schema: { $ref: `#/components/schemas/${schema}` } } },
	});
	return {
		get: {
			responses: {
				400: reply("framing refused before routing"),
				404: reply("no such path"),
				501: reply("Transfer-Encoding refused before routing"),
			},
		},
	};
}
const validatorSpec = structuredClone(spec);
validatorSpec.paths[UNROUTED.native] = unroutedOperation("Error");
validatorSpec.paths[UNROUTED.oip] = unroutedOperation("OipError");
for (const schema of ["Error", "OipError"]) {
	if (!spec.components?.schemas?.[schema]) {
		console.error(`validate-replies.mjs: the document has no components.schemas.${schema}`);
		process.exit(2);
	}
}

// --- the validator, behind an Express app that replays each JSON reply -----------------------------

const replays = [];
const app = express();
app.use(
	OpenApiValidator.middleware({
		apiSpec: validatorSpec,
		validateApiSpec: true,
		validateRequests: false,
		validateSecurity: false,
		validateResponses: true,
		ignoreUndocumented: true,
	}),
);
app.use((req, res) => {
	const r = replays[Number(req.get("x-replay"))];
	res.status(r.status);
	res.set("Content-Type", r.contentType);
	res.json(r.json);
});
app.use((err, req, res, next) => {
	void next;
	const body = JSON.stringify({ message: err.message, errors: err.errors ?? null });
	res.writeHead(200, { "Content-Type": "application/json", "X-Verdict": "mismatch" });
	res.end(body);
});
const listener = await new Promise((ok, fail) => {
	const l = app.listen(0, "127.0.0.1", (e) => (e ? fail(e) : ok(l)));
});
const base = `http://127.0.0.1:${listener.address().port}`;

async function replay(method, path, status, contentType, json) {
	const id = replays.length;
	replays.push({ status, contentType, json });
	const resp = await fetch(base + path, { method: method.toUpperCase(), headers: { "x-replay": String(id) } });
	const text = await resp.text();
	if (resp.headers.get("x-verdict") === "mismatch") {
		const v = JSON.parse(text);
		const details = (v.errors ?? []).map((e) => `${e.path ?? ""} ${e.message ?? ""}`.trim());
		return `express-openapi-validator: ${v.message}${details.length ? " (" + details.join("; ") + ")" : ""}`;
	}
	if (resp.status !== status) return `the validator's app answered ${resp.status}: ${text.slice(0, 200)}`;
	return null;
}

// --- the checks ---------------------------------------------------------------------------------

function mediaType(headers) {
	return (headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

function allowFor(template) {
	const declared = METHODS.filter((m) => spec.paths[template][m]).map((m) => m.toUpperCase());
	const list = [];
	if (declared.includes("GET")) list.push("GET", "HEAD");
	if (declared.includes("POST")) list.push("POST");
	list.push("OPTIONS");
	return list.join(", ");
}

function canonicalPath(template) {
	return template.replace(/\{[^}]+\}/g, "x");
}

// Checks one reply against one declared operation; returns a problem or null.
async function checkOperation(r, template, method, { head = false } = {}) {
	const operation = spec.paths[template][method];
	const response = resolve(operation.responses?.[String(r.status)]);
	if (!response) {
		const declared = Object.keys(operation.responses ?? {}).join(", ");
		return `status ${r.status} is not declared by ${method.toUpperCase()} ${template} (it declares ${declared})`;
	}
	const type = mediaType(r.headers);
	const content = response.content ?? {};
	if (Object.keys(content).length === 0) {
		return r.bytes.length ? `a body where ${r.status} of ${template} declares none` : null;
	}
	if (!content[type]) {
		return `content type '${type}' is not declared for ${r.status} of ${method.toUpperCase()} ${template} (${Object.keys(content).join(", ")})`;
	}
	for (const [name, header] of Object.entries(response.headers ?? {})) {
		const h = resolve(header);
		const value = r.headers[name.toLowerCase()];
		if (value === undefined) {
			if (h.required) return `the required header ${name} is missing`;
			continue;
		}
		if (resolve(h.schema)?.type === "integer" && !/^-?\d+$/.test(value)) {
			return `header ${name}: '${value}' is not an integer`;
		}
	}
	if (head) return r.bytes.length ? "a body in the reply to HEAD" : null;
	if (type === "image/png" && !r.bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return "an image/png body that is not a PNG";
	if (type === "application/yaml" && r.bytes.toString("utf-8") !== specText) return "the served document is not openapi.yaml";
	if (type === "application/json") {
		let json;
		try {
			json = JSON.parse(r.bytes.toString("utf-8"));
		} catch (e) {
			return `the body is not JSON: ${e.message}`;
		}
		return replay(method, canonicalPath(template), r.status, type, json);
	}
	return null;
}

async function check(r) {
	const method = r.method.toLowerCase();
	const path = r.target.split("?")[0];
	const type = mediaType(r.headers);
	// libmicrohttpd's pages carry no Content-Type (text/html where a version adds one); for a bad
	// Content-Length 0.9.75 sends its header block twice, so the page can follow a second one
	if ((type === "" || type === "text/html") && MHD_STATUSES.has(r.status) && /<html>/i.test(r.bytes.toString("latin1"))) {
		return { rule: "libmicrohttpd's own replies (excluded)" };
	}
	const template = matchTemplate(path);
	if (!template) {
		const unrouted = path === "/v2" || path.startsWith("/v2/") ? UNROUTED.oip : UNROUTED.native;
		if (r.status === 404 || r.status === 400 || r.status === 501) {
			const problem = await replay("get", unrouted, r.status, type, safeJson(r.bytes));
			return { rule: "paths the document does not have", problem: type === "application/json" ? problem : `content type '${type}'` };
		}
		return { rule: "paths the document does not have", problem: `a path the document does not have answered ${r.status}` };
	}
	const declared = METHODS.filter((m) => spec.paths[template][m]);
	if (method === "options" && !declared.includes("options")) {
		const allow = allowFor(template);
		let problem = null;
		if (r.status !== 204) problem = `OPTIONS answered ${r.status}, not 204`;
		else if (r.bytes.length) problem = "a body in the 204 to OPTIONS";
		else if (r.headers.allow !== allow) problem = `Allow '${r.headers.allow}', not '${allow}'`;
		return { rule: "OPTIONS preflights", problem };
	}
	if (method === "head" && !declared.includes("head") && declared.includes("get")) {
		return { rule: "HEAD, as GET without a body", problem: await checkOperation(r, template, "get", { head: true }) };
	}
	if (!declared.includes(method)) {
		const head = method === "head";
		return { rule: "methods a path does not declare", problem: await checkOperation(r, template, declared[0], { head }) };
	}
	return { problem: await checkOperation(r, template, method) };
}

function safeJson(bytes) {
	try {
		return JSON.parse(bytes.toString("utf-8"));
	} catch {
		return bytes.toString("utf-8");
	}
}

// --- run ----------------------------------------------------------------------------------------

const verdict = { checked: 0, by_rule: {}, mismatches: [] };
const queue = records.map((r) => ({ ...r, bytes: Buffer.from(r.body, "base64") }));
async function worker() {
	for (let r = queue.shift(); r; r = queue.shift()) {
		let result;
		try {
			result = await check(r);
		} catch (e) {
			result = { problem: `the check failed: ${e.stack ?? e}` };
		}
		if (result.rule) verdict.by_rule[result.rule] = (verdict.by_rule[result.rule] ?? 0) + 1;
		else verdict.checked++;
		if (result.problem) {
			verdict.mismatches.push({
				method: r.method,
				target: r.target,
				status: r.status,
				contentType: r.headers["content-type"] ?? null,
				problem: result.problem,
				body: r.bytes.subarray(0, 400).toString("utf-8"),
			});
		}
	}
}
await Promise.all(Array.from({ length: 8 }, worker));
listener.close();
verdict.mismatches.sort((a, b) => `${a.target} ${a.status}`.localeCompare(`${b.target} ${b.status}`));
console.log(JSON.stringify(verdict, null, 1));
process.exit(verdict.mismatches.length ? 1 : 0);
