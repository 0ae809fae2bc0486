// Validates OpenAPI documents with @seriousme/openapi-schema-validator (the version pinned in
// package.json). Usage: node validate.mjs FILE...; prints one JSON array of
// {file, valid, errors, yamlError} and exits 1 when any file is invalid.
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { Validator } from "@seriousme/openapi-schema-validator";

const results = [];
for (const file of process.argv.slice(2)) {
	const validator = new Validator();
	const result = await validator.validate(file);
	const entry = { file, valid: result.valid === true, errors: result.errors ?? null, yamlError: null };
	if (!entry.valid && typeof result.errors === "string") {
		// the validator only says the YAML did not parse: say where
		try {
			parse(await readFile(file, "utf-8"));
		} catch (e) {
			entry.yamlError = String(e.message);
		}
	}
	results.push(entry);
}
console.log(JSON.stringify(results, null, 1));
process.exit(results.every((r) => r.valid) ? 0 : 1);
