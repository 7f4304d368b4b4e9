// What an overlay must render, beyond schema validity: the pieces the
// deployment relies on (deploy/k8s/k8s_test.sh).
//   node expect.mjs gpu|cpu RENDERED.yaml
import fs from "node:fs";
import { parseAllDocuments } from "yaml";

const [overlay, file] = process.argv.slice(2);
const objects = parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => d.toJS());
const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const failures = [];
const expect = (ok, what) => { if (!ok) failures.push(what); };
const container = (o) => o?.spec?.template?.spec?.containers?.[0];

const coordinator = find("StatefulSet", "ps-coordinator");
const server = find("StatefulSet", "ps-server");
const worker = find("Deployment", "ps-worker");
expect(coordinator && server && worker, "coordinator, server and worker workloads");
expect(find("Service", "ps-coordinator")?.spec?.ports?.[0]?.port === 7000, "coordinator Service on 7000");
expect(find("Service", "ps-server")?.spec?.clusterIP === "None", "headless server Service");
expect(coordinator?.spec?.volumeClaimTemplates?.[0]?.metadata?.name === "state" &&
       container(coordinator)?.volumeMounts?.some((m) => m.name === "state" && m.mountPath === "/var/lib/pscluster") &&
       container(coordinator)?.args?.includes("--state_dir=/var/lib/pscluster"),
       "coordinator state dir on a persistent volume");
expect(server?.spec?.template?.spec?.affinity?.podAntiAffinity
         ?.requiredDuringSchedulingIgnoredDuringExecution?.[0]?.topologyKey === "kubernetes.io/hostname",
       "server anti-affinity per node");
expect(find("PodDisruptionBudget", "ps-server"), "server PodDisruptionBudget");
for (const [name, o, secret] of [["coordinator", coordinator, "pscluster-tls-coordinator"],
                                 ["server", server, "pscluster-tls-server"],
                                 ["worker", worker, "pscluster-tls-worker"]]) {
  const c = container(o);
  for (const probe of ["readinessProbe", "livenessProbe"]) {
    const cmd = (c?.[probe]?.exec?.command ?? []).join(" ");
    expect(cmd.includes("/usr/bin/psctl health") && cmd.includes("--tls_dir=/etc/pscluster/tls"),
           `${name} ${probe} runs psctl health with the pod's certificate`);
  }
  expect(o?.spec?.template?.metadata?.annotations?.["prometheus.io/port"], `${name} Prometheus annotations`);
  expect(o?.spec?.template?.spec?.volumes?.some((v) => v.secret?.secretName === secret) &&
         find("Secret", secret)?.type === "kubernetes.io/tls" &&
         ["ca.crt", "tls.crt", "tls.key"].every((k) => find("Secret", secret)?.data?.[k]),
         `${name} mounts its TLS secret ${secret} (ca.crt, tls.crt, tls.key)`);
  expect(o?.metadata?.namespace === "pscluster", `${name} in namespace pscluster`);
}
const env = Object.fromEntries((container(worker)?.env ?? []).map((e) => [e.name, e.value]));
const gpus = container(worker)?.resources?.limits?.["nvidia.com/gpu"];
if (overlay === "gpu") {
  expect(env.PS_DEVICE === "cuda" && gpus === 1, "gpu: one nvidia.com/gpu per worker, --device=cuda");
} else {
  expect(env.PS_DEVICE === "cpu" && gpus === undefined && container(worker)?.resources?.requests?.cpu === env.PS_THREADS,
         "cpu: no GPU, --device=cpu, threads = requested cores");
}
for (const f of failures) console.error(`${overlay}: missing: ${f}`);
console.log(`${overlay}: ${failures.length ? "FAILED" : "as expected"}`);
process.exit(failures.length ? 1 : 0);
