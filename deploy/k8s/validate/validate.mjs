// Validates Kubernetes manifests (multi-document YAML, e.g. the output of
// `kubectl kustomize`) offline against the Kubernetes API schemas, with no
// cluster:
//  1. kubernetes-models' validators, compiled from the API's OpenAPI
//     schemas: field types, int32/int64 and quantity formats, enums,
//     required fields;
//  2. TypeScript's excess-property check against the same package's API
//     types, which finds unknown fields (a misspelt `readinesProbe`), as
//     the API server's strict field validation would; the OpenAPI schemas
//     alone allow them.
// A kind the package does not know is an error, not a pass.
//
//   node validate.mjs FILE.yaml...   exit 0: valid; 1: errors, each named
//                                    with the file, the object and the path
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import ts from "typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// "apps/v1" + "StatefulSet" -> "kubernetes-models/apps/v1/StatefulSet".
function modulePath(apiVersion, kind) {
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) || !/^[A-Za-z]+$/.test(kind)) {
    return null;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

function readObjects(files) {
  const objects = [];
  for (const file of files) {
    const docs = parseAllDocuments(fs.readFileSync(file, "utf8"));
    docs.forEach((doc, i) => {
      if (doc.errors.length) {
        throw new Error(`${file}: document ${i}: ${doc.errors[0].message}`);
      }
      const obj = doc.toJS();
      if (obj === null) return;
      // Secret data is base64, which kustomize wraps in lines; the API
      // server's decoder (Go's encoding/base64) skips line breaks, the
      // "byte" format check does not.
      if (obj.kind === "Secret" && obj.data && typeof obj.data === "object") {
        for (const k of Object.keys(obj.data)) {
          if (typeof obj.data[k] === "string") obj.data[k] = obj.data[k].replace(/[\r\n]/g, "");
        }
      }
      objects.push({ file, obj });
    });
  }
  return objects;
}

function label({ file, obj }) {
  const name = obj?.metadata?.name ?? "(no name)";
  return `${path.basename(file)}: ${obj?.kind ?? "(no kind)"} ${name}`;
}

async function schemaErrors(objects) {
  const errors = [];
  for (const o of objects) {
    const mod = modulePath(String(o.obj.apiVersion), String(o.obj.kind));
    let Model;
    try {
      Model = mod && (await import(mod))[o.obj.kind];
    } catch {
      Model = undefined;
    }
    if (!Model) {
      errors.push(`${label(o)}: unknown apiVersion/kind ${o.obj.apiVersion} ${o.obj.kind}`);
      continue;
    }
    o.module = mod;
    try {
      new Model(o.obj).validate();
    } catch (e) {
      for (const err of e.errors ?? [e]) {
        errors.push(`${label(o)}: ${err.instancePath ?? ""} ${err.message}`);
      }
    }
  }
  return errors;
}

// One TypeScript file assigning each object, as a literal, to its API type.
function unknownFieldErrors(objects) {
  const known = objects.filter((o) => o.module);
  if (!known.length) return [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8s-validate-"));
  try {
    const file = path.join(dir, "manifests.ts");
    const lines = known.map(
      (o, i) => `import type { I${o.obj.kind} as T${i} } from "${o.module}";`);
    const starts = [];  // the 0-based line where each object begins
    known.forEach((o, i) => {
      starts.push(lines.length);
      const literal = JSON.stringify(o.obj, null, 1).split("\n");
      literal[0] = `export const o${i}: T${i} = ${literal[0]}`;
      literal[literal.length - 1] += ";";
      lines.push(...literal);
    });
    fs.writeFileSync(file, lines.join("\n"));
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      baseUrl: here,
      typeRoots: [],
      types: [],
      paths: { "kubernetes-models/*": [path.join(here, "node_modules/kubernetes-models/*")] },
    });
    const diagnostics = ts.getPreEmitDiagnostics(program);
    const text = fs.readFileSync(file, "utf8").split("\n");
    return diagnostics.map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
      if (!d.file || d.file.fileName !== file) return `typescript: ${message}`;
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      let index = 0;
      while (index + 1 < starts.length && starts[index + 1] <= line) index++;
      return `${label(known[index])}: near \`${text[line].trim()}\`: ${message}`;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const files = process.argv.slice(2);
if (!files.length) {
  console.error("usage: node validate.mjs FILE.yaml...");
  process.exit(2);
}
let objects;
try {
  objects = readObjects(files);
} catch (e) {
  console.error(String(e.message ?? e));
  process.exit(1);
}
const errors = [...(await schemaErrors(objects)), ...unknownFieldErrors(objects)];
for (const e of errors) console.error(e);
const models = require("kubernetes-models/package.json");
console.log(`${objects.length} objects, ${errors.length} errors ` +
  `(kubernetes-models ${models.version}, typescript ${ts.version})`);
process.exit(errors.length ? 1 : 0);
