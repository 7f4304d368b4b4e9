#!/usr/bin/python3
"""What share of a ps_server's instructions its Prometheus metrics cost.

Reads callgrind output files (valgrind --tool=callgrind) of ps_server
processes and prints, for each, the instructions the process executed, the
data-plane calls it answered (Pull, Push, Replicate), and the instructions
spent in metrics code: the inclusive cost of every call from code that is not
metrics code into code that is (so a metrics function calling another is
counted once; the /metrics endpoint's thread is entered from libstdc++),
less the calls from metrics code back into the rest of the call
(NOT_METRICS below). Metrics code is matched by function name (METRICS
below); the clock reads the data plane takes only to time its calls for the metrics
(PsService and DataPlaneCall calling clock_gettime or steady_clock::now)
are counted as metrics too, which overstates a little: the data plane reads
the clock for other reasons as well.

Start-up and shutdown are not the data plane's: with --idle=OFF,ON (the
callgrind files of a server without and one with metrics that were started
and stopped without a call) their instructions, metrics code included (the
families are registered at start), are subtracted from each file's of the
same setting before the per-call figures and the share are computed.

Usage: bench/metrics_share.py [--idle=OFF_FILE,ON_FILE] CALLGRIND_FILE...
(bench/metrics_callgrind.sh runs the workload and calls this.)
       bench/metrics_share.py --self-check   (checks the counting on a
                                              made-up file; a test runs it)
"""

import re
import sys

METRICS = re.compile(
    r"^(prometheus::"
    r"|ps::RpcMethodRecorder::"
    r"|ps::RpcServerMetrics::"
    r"|ps::\(anonymous namespace\)::MetricsInterceptor::"
    r"|ps::MetricsEndpoint::"
    r"|ps::Metrics::"
    r"|ps::server::ServerMetrics::"
    r"|std::thread::_State_impl<std::thread::_Invoker<std::tuple<"
    r"ps::MetricsEndpoint::)")
# Callers whose clock reads time a call for the metrics.
TIMING_CALLERS = re.compile(r"^ps::server::(PsService::|DataPlaneCall::|"
                            r"\(anonymous namespace\)::ApplyAndAnswer)")
CLOCKS = re.compile(r"^(clock_gettime|std::chrono::_V2::steady_clock::now)")
# Calls from metrics code that are not metrics work: the interceptor's
# Proceed() runs the rest of the call (the handler itself, for a synchronous
# method), and GetSerializedSendMessage() serializes an answer that gRPC
# serializes anyway, only earlier.
NOT_METRICS = re.compile(r"^grpc::internal::InterceptorBatchMethodsImpl::"
                         r"(Proceed|GetSerializedSendMessage)\(")
DATA_PLANE = re.compile(r"^ps::server::PsService::(Pull|Push|Replicate)\(")


def parse(path):
    """Returns (command, total Ir, metrics Ir, data-plane calls)."""
    names = {}  # compressed function names: fn= and cfn= share the ids
    command = ""
    total = 0
    metrics = 0
    calls = 0
    fn = None  # name of the function whose costs follow
    pending_call = None  # (callee name, count) awaiting its cost line

    def name_of(ref):
        match = re.match(r"\((\d+)\)(?: (.*))?$", ref)
        if match is None:
            return ref
        if match.group(2) is not None:
            names[match.group(1)] = match.group(2)
        return names.get(match.group(1), "?")

    try:
        f = open(path, encoding="utf-8", errors="replace")
    except OSError as e:
        sys.exit(f"{path}: {e.strerror} (a callgrind output file is needed)")
    with f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("cmd:"):
                command = line[4:].strip()
                continue
            if line.startswith("summary:"):
                total = int(line.split()[1])
                continue
            if line.startswith("fn="):
                fn = name_of(line[3:])
                continue
            if line.startswith("cfn="):
                callee = name_of(line[4:])
                continue
            if line.startswith("calls="):
                pending_call = (callee, int(line[6:].split()[0]))
                continue
            if line.startswith(("cfi=", "cfl=", "cob=", "ob=", "fl=", "fi=",
                                "fe=")):
                continue  # files and objects: ids of their own, not needed
            if not (line[0].isdigit() or line[0] in "+-*"):
                continue  # other header lines
            fields = line.split()
            cost = int(fields[1]) if len(fields) > 1 else 0
            if pending_call is not None:
                callee, count = pending_call
                pending_call = None
                caller_is_metrics = fn is not None and METRICS.match(fn)
                if not caller_is_metrics and METRICS.match(callee):
                    metrics += cost
                elif caller_is_metrics and NOT_METRICS.match(callee):
                    metrics -= cost
                elif (fn is not None and TIMING_CALLERS.match(fn)
                      and CLOCKS.match(callee)):
                    metrics += cost
                if DATA_PLANE.match(callee):
                    calls += count
    return command, total, metrics, calls


# A made-up profile: two Push calls that observe a histogram and read the
# clock, and one interceptor whose Proceed() runs 800 instructions of the
# call and which observes a histogram itself (counted once, inside it).
# File ids are a space of their own: fl=(1) is not fn=(1).
SELF_CHECK = """# callgrind format
version: 1
cmd:  ps_server --port=0 --metrics_port=-1
positions: line
events: Ir
summary: 10000

fn=(1) ps::server::PsService::Push(grpc::CallbackServerContext*)
0 100
cfn=(2) prometheus::Histogram::Observe(double)
calls=2 0
0 50
cfn=(3) std::chrono::_V2::steady_clock::now()
calls=2 0
0 10

fl=(1) ./grpc/server.cc
fn=(4) grpc::Server::CallbackRequest::Run(bool)
cfn=(1)
calls=2 0
0 5000
cfn=(5) ps::(anonymous namespace)::MetricsInterceptor::Intercept(x)
calls=1 0
0 900

fn=(5)
cfn=(6) grpc::internal::InterceptorBatchMethodsImpl::Proceed()
calls=1 0
0 800
cfn=(2)
calls=1 0
0 20
"""


def self_check():
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".cg") as f:
        f.write(SELF_CHECK)
        f.flush()
        got = parse(f.name)
    want = ("ps_server --port=0 --metrics_port=-1", 10000, 50 + 10 + 900 - 800,
            2)
    if got != want:
        sys.exit(f"self-check failed: got {got}, want {want}")
    print("self-check passed")


def main(args):
    if args == ["--self-check"]:
        self_check()
        return
    idle = {False: (0, 0), True: (0, 0)}
    paths = []
    for arg in args:
        if arg.startswith("--idle="):
            files = arg[len("--idle="):].split(",")
            if len(files) != 2:
                sys.exit(f"{arg}: allowed: --idle=OFF_FILE,ON_FILE (two "
                         "callgrind files, of a server without metrics and "
                         "one with them)")
            off, on = files
            for setting, path in ((False, off), (True, on)):
                command, total, metrics, calls = parse(path)
                if calls or (("--metrics_port" in command) != setting):
                    sys.exit(f"{path}: not an idle server with metrics "
                             f"{'on' if setting else 'off'}")
                idle[setting] = (total, metrics)
        else:
            paths.append(arg)
    if not paths:
        sys.exit(__doc__)
    print("| server | metrics | data-plane calls | instructions | "
          "instructions / call | metrics instructions / call | "
          "metrics share |")
    print("|--|--|--:|--:|--:|--:|--:|")
    for path in paths:
        command, total, metrics, calls = parse(path)
        on = "--metrics_port" in command
        total -= idle[on][0]
        metrics -= idle[on][1]
        per_call = total / calls if calls else float("nan")
        metrics_per_call = metrics / calls if calls else float("nan")
        print(f"| {path.rsplit('/', 1)[-1]} | {'on' if on else 'off'} | "
              f"{calls} | {total:,} | {per_call:,.0f} | "
              f"{metrics_per_call:,.0f} | {100.0 * metrics / total:.2f}% |")


if __name__ == "__main__":
    main(sys.argv[1:])
