// The coordinator's dashboard: the cluster and its jobs at "/", one job's
// live curves, tables and placement at "/jobs/JOB". Reads the JSON API
// beside it (coordinator/dashboard.h) every two seconds. Every text that
// comes from the cluster goes into the page as text, never as HTML.
'use strict';

const REFRESH_MS = 2000;
const main = document.getElementById('main');

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

async function getJson(path) {
  const r = await fetch(path, {cache: 'no-store'});
  if (!r.ok) throw new Error(`${path}: ${r.status} ${(await r.text()).trim()}`);
  return r.json();
}

const num = (v) => Number(v || 0);
const fixed = (v, d) => num(v).toFixed(d);
const pct = (v) => `${(100 * num(v)).toFixed(2)}%`;
const state = (s) => el('span', {class: `state ${s}`}, s);

function table(headers, rows, numeric) {
  const t = el('table', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h))));
  for (const row of rows) {
    t.append(el('tr', {}, ...row.map((c, i) =>
        el('td', numeric && numeric.includes(i) ? {class: 'num'} : {}, c))));
  }
  return t;
}

function stamp() {
  document.getElementById('updated').textContent =
      `updated ${new Date().toLocaleTimeString()}`;
}

// ---- "/": the cluster and its jobs ----

async function showOverview() {
  const [cluster, jobs] = await Promise.all(
      [getJson('/api/cluster'), getJson('/api/jobs')]);
  const members = cluster.members.map((m) => [
    m.id, m.role, state(m.state), m.address,
    `${(num(m.last_heartbeat_age_ms) / 1000).toFixed(1)} s`, m.job_id || '']);
  const list = jobs.jobs.slice().reverse().map((j) => {
    const p = j.progress;
    const total = num(p.total_steps);
    return [
      el('a', {href: `/jobs/${encodeURIComponent(j.id)}`}, j.id),
      state(j.state), j.spec.model ? j.spec.model.type : '', j.owner,
      total ? `${p.step} / ${total} (${(100 * num(p.step) / total).toFixed(0)}%)` : '',
      fixed(p.loss, 4), pct(p.accuracy), fixed(p.examples_per_sec, 0),
      j.reason];
  });
  main.replaceChildren(
      el('h2', {}, `Members (lease ${num(cluster.lease_ms) / 1000} s)`),
      table(['member', 'role', 'state', 'address', 'heartbeat', 'job'], members),
      el('h2', {}, 'Jobs'),
      table(['job', 'state', 'model', 'owner', 'steps', 'loss', 'accuracy',
             'examples/s', 'reason'], list, [5, 6, 7]));
}

// ---- "/jobs/JOB": one job ----

const charts = {};  // by name: the uPlot, made once, then fed new data

function chart(name, label, color, xs, ys, holder) {
  let u = charts[name];
  if (!u) {
    const box = el('div', {class: 'chart', id: `chart-${name}`});
    holder.append(box);
    u = new uPlot({
      title: label,
      width: Math.max(300, holder.clientWidth - 20),
      height: 220,
      scales: {x: {time: false}},
      axes: [{label: 'step (all workers)'}, {label, size: 70}],
      series: [{label: 'step'}, {label, stroke: color, width: 2}],
    }, [xs, ys], box);
    charts[name] = u;
  } else {
    u.setData([xs, ys]);
  }
  // What the chart holds, for people and tests reading the page.
  u.root.parentElement.dataset.points = String(u.data[0].length);
}

function placement(map) {
  const server = (e) => `${e.member_id} (${e.address})`;
  const groups = map.groups.length ? map.groups.map((g) => g.replicas)
                                   : map.servers.map((s) => [s]);
  const where = (g) => {
    const r = groups[g] || [];
    return `group ${g}: primary ${r.length ? server(r[0]) : 'none'}` +
        (r.length > 1 ? `, backups ${r.slice(1).map(server).join(', ')}` : '');
  };
  const rows = [];
  for (const t of map.tables) {
    if (t.kind === 'SPARSE') {
      const per = {};
      map.partition_servers.forEach((g) => { per[g] = (per[g] || 0) + 1; });
      for (const g of Object.keys(per)) {
        rows.push([t.name, `sparse, dim ${t.dim}`,
                   `${per[g]} of ${map.sparse_partitions} partitions`, where(g)]);
      }
    } else {
      for (const r of map.ranges.filter((r) => r.table === t.name)) {
        rows.push([t.name, `dense [${t.shape.join(', ')}]`,
                   `values ${r.begin} to ${r.end}`, where(r.server_index)]);
      }
    }
  }
  return table(['table', 'kind', 'piece', 'lives on'], rows);
}

// A table with an id, and its row count for people and tests reading the
// page.
function counted(id, t, rows) {
  t.id = id;
  t.dataset.rows = String(rows);
  return t;
}

// A finished job's own results beyond accuracy and loss: an ensemble's
// members, a federated job's rounds.
function results(r) {
  const parts = [];
  const members = r.members || [];
  if (members.length) {
    parts.push(el('h2', {}, 'Ensemble members'), counted('members', table(
        ['member', 'weight', 'test accuracy', 'test loss'],
        members.map((m) => [num(m.index), fixed(m.weight, 4),
                            pct(m.test_accuracy), fixed(m.test_loss, 4)]),
        [1, 2, 3]), members.length));
  }
  const rounds = r.rounds || [];
  if (rounds.length) {
    parts.push(el('h2', {}, 'Rounds: the global model after each'),
               counted('rounds', table(
                   ['round', 'clients (ranks)', 'test accuracy', 'test loss'],
                   rounds.map((q) => [num(q.round), (q.clients || []).join(', '),
                                      pct(q.test_accuracy), fixed(q.test_loss, 4)]),
                   [2, 3]), rounds.length));
  }
  return parts;
}

let jobPage = null;  // the parts of the page that are kept between refreshes

async function showJob(id) {
  const [job, history] = await Promise.all([
    getJson(`/api/jobs/${encodeURIComponent(id)}`),
    getJson(`/api/jobs/${encodeURIComponent(id)}/history?max_points=1000`)]);
  if (!jobPage) {
    jobPage = {
      head: el('div'), facts: el('div', {class: 'facts'}),
      results: el('div'), charts: el('div', {class: 'charts'}),
      tables: el('div'),
    };
    main.replaceChildren(jobPage.head, jobPage.facts, jobPage.results,
                         el('h2', {}, 'Training curves'), jobPage.charts,
                         el('h2', {}, 'Tables and where they live'),
                         jobPage.tables);
  }
  const p = job.progress;
  jobPage.head.replaceChildren(
      el('h1', {}, `${job.id} `, el('span', {id: 'job-state', class: `state ${job.state}`}, job.state)),
      el('p', {id: 'job-reason', class: 'muted'},
         `${job.spec.model ? job.spec.model.type : ''} · owner ${job.owner || '(none)'} · attempt ${num(job.attempt) + 1}` +
         (job.reason ? ` · ${job.reason}` : '')));
  const facts = [
    ['steps', `${p.step} / ${p.total_steps}`], ['epoch', p.epoch],
    ['loss', fixed(p.loss, 4)], ['accuracy', pct(p.accuracy)],
    ['examples/s', fixed(p.examples_per_sec, 0)],
    ['max staleness', p.max_staleness],
    ['ETA', `${fixed(p.eta_seconds, 0)} s`],
  ];
  const r = job.result || {};
  if (job.state === 'SUCCEEDED') {
    facts.push(['test accuracy', pct(r.test_accuracy)],
               ['test loss', fixed(r.test_loss, 4)]);
    if (num(r.test_auc) > 0) facts.push(['test AUC', fixed(r.test_auc, 4)]);
  }
  jobPage.facts.replaceChildren(
      ...facts.map(([k, v]) => el('div', {}, el('span', {class: 'muted'}, k), el('b', {}, v))));
  jobPage.results.replaceChildren(...results(r));
  const pts = history.points;
  const xs = pts.map((q) => num(q.step));
  chart('loss', 'training loss', '#d62728', xs, pts.map((q) => num(q.loss)), jobPage.charts);
  chart('accuracy', 'training accuracy', '#1f77b4', xs, pts.map((q) => num(q.accuracy)), jobPage.charts);
  chart('throughput', 'examples/s', '#2ca02c', xs, pts.map((q) => num(q.examples_per_sec)), jobPage.charts);
  jobPage.tables.replaceChildren(
      job.partition_map && job.partition_map.tables.length
          ? placement(job.partition_map)
          : el('p', {class: 'muted'}, 'no tables (the job is not running)'),
      el('h2', {}, 'Workers'),
      table(['rank', 'worker', 'pushes as'], job.worker_ids.map(
          (w, r) => [r, w || '(vacant)', job.push_worker_ids[r] || ''])));
  return job.state;
}

// ---- refresh loop ----

async function refresh() {
  const m = location.pathname.match(/^\/jobs\/([^/]+)$/);
  try {
    if (m) {
      const s = await showJob(decodeURIComponent(m[1]));
      document.title = `${decodeURIComponent(m[1])} ${s} · pscluster`;
    } else {
      await showOverview();
    }
    stamp();
  } catch (e) {
    document.getElementById('updated').textContent = `error: ${e.message}`;
    if (!main.firstChild || main.querySelector('.loading')) {
      main.replaceChildren(el('p', {class: 'error'}, e.message));
    }
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
