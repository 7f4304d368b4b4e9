#!/usr/bin/python3
"""Single-process PyTorch baseline for the flight-delay workload.

Sparse logistic regression over 2^20 hashed features (--features; by
default the six base ones), trained on train.psf and evaluated (log-loss,
AUC) on test.psf as written by deploy/flights/setup.sh. The features are
hashed exactly as worker/data/feature_hash.{h,cc} hashes them; `--self-check`
asserts the same hard-coded keys as worker/data/feature_hash_test.cc, the two
crosses included, and needs only numpy.

Runs with Debian's python3-torch (1.13, CPU) and python3-numpy under
/usr/bin/python3, e.g.

  /usr/bin/python3 bench/flights_torch.py --data-dir /var/lib/pscluster/flights
  /usr/bin/python3 bench/flights_torch.py --features \
      origin,dest,route,hour,weekday,distance_bucket,origin_hour,dest_hour
  /usr/bin/python3 bench/flights_torch.py --self-check

Progress goes to stderr; the last lines on stdout are a Markdown table row.
"""

import argparse
import os
import sys
import time

import numpy as np

# ---- PSF1 reader (format: worker/data/flights_data.h) ---------------------------

PSF_MAGIC = b"PSF1"
PSF_HEADER = np.dtype([("magic", "S4"), ("record_size", "<u4"), ("rows", "<u8")])
# Airport codes are read as little-endian uint32, which is exactly the
# packing worker/data/flights_data.h uses ("ATL" = 0x4c5441).
PSF_RECORD = np.dtype([("minute", "<i4"), ("delay", "<i2"), ("distance", "<u2"),
                       ("origin", "<u4"), ("destination", "<u4")])


def load_psf(path):
    """All records of a PSF1 file, validated like LoadFlights does."""
    size = os.path.getsize(path)
    if size < PSF_HEADER.itemsize:
        raise ValueError(f"{path}: file is {size} bytes, shorter than the PSF1 header")
    header = np.fromfile(path, dtype=PSF_HEADER, count=1)[0]
    if header["magic"] != PSF_MAGIC:
        raise ValueError(f"{path}: bad magic {header['magic']!r}, expected b'PSF1'")
    if header["record_size"] != PSF_RECORD.itemsize:
        raise ValueError(f"{path}: record size {header['record_size']}, expected 16")
    rows = int(header["rows"])
    if size != PSF_HEADER.itemsize + rows * PSF_RECORD.itemsize:
        raise ValueError(f"{path}: {size} bytes, header's {rows} rows need "
                         f"{PSF_HEADER.itemsize + rows * PSF_RECORD.itemsize}")
    return np.fromfile(path, dtype=PSF_RECORD, count=rows, offset=PSF_HEADER.itemsize)


# ---- Feature hashing (bit for bit worker/data/feature_hash.cc) ------------------

# Name -> number of ps.v1.FlightFeature (proto/ps/v1/ps.proto). A feature's
# salt is derived from its number, never from its position in --features.
FEATURES = {
    "origin": 1, "dest": 2, "route": 3, "hour": 4, "weekday": 5,
    "distance_bucket": 6, "origin_hour": 7, "dest_hour": 8,
}
DEFAULT_FEATURES = ["origin", "dest", "route", "hour", "weekday", "distance_bucket"]
DELAYED_THRESHOLD_MINUTES = 15
DISTANCE_EDGES = np.array([250, 500, 750, 1000, 1500, 2000, 2500], dtype=np.int64)
_U64 = np.uint64
_GOLDEN_GAMMA = _U64(0x9E3779B97F4A7C15)


def mix64(x):
    """splitmix64 finalizer over a uint64 array (wrapping multiplication)."""
    x = np.asarray(x, dtype=np.uint64)
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def feature_salt(name):
    """Mix64(number * golden gamma): the number-th splitmix64 output."""
    return mix64(np.array([FEATURES[name]], dtype=np.uint64) * _GOLDEN_GAMMA)[0]


def parse_features(text):
    """A --features value: comma-separated names, each known and at most once."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        return list(DEFAULT_FEATURES)
    for name in names:
        if name not in FEATURES:
            raise argparse.ArgumentTypeError(
                f"unknown feature {name!r}, expected some of {', '.join(FEATURES)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"features {text!r} repeat a name")
    return names


def feature_values(rec, features=DEFAULT_FEATURES):
    """(rows, len(features)) uint64 values before salting, in list order."""
    minute = rec["minute"].astype(np.int64)
    origin = rec["origin"].astype(np.uint64)
    destination = rec["destination"].astype(np.uint64)
    hour = ((minute % 1440) // 60).astype(np.uint64)  # numpy % and // floor, like C++
    columns = {
        "origin": lambda: origin,
        "dest": lambda: destination,
        "route": lambda: origin | (destination << _U64(32)),
        "hour": lambda: hour,
        "weekday": lambda: (minute // 1440) % 7,  # 0 = Monday: 2001-01-01 was one
        "distance_bucket": lambda: np.searchsorted(
            DISTANCE_EDGES, rec["distance"].astype(np.int64), side="right"),
        "origin_hour": lambda: origin | (hour << _U64(32)),
        "dest_hour": lambda: destination | (hour << _U64(32)),
    }
    values = np.empty((len(rec), len(features)), dtype=np.uint64)
    for s, name in enumerate(features):
        values[:, s] = columns[name]()
    return values


def hash_keys(rec, num_bits=20, features=DEFAULT_FEATURES):
    """(rows, len(features)) uint64 keys: Mix64(value ^ FeatureSalt(f)) mod 2^num_bits."""
    values = feature_values(rec, features)
    salts = np.array([feature_salt(name) for name in features], dtype=np.uint64)
    keys = mix64(values ^ salts[None, :])
    if num_bits < 64:
        keys &= _U64((1 << num_bits) - 1)
    return keys


def labels(rec):
    return (rec["delay"] > DELAYED_THRESHOLD_MINUTES).astype(np.float32)


def pack_code(code):
    return int.from_bytes(code.encode("ascii")[:4].ljust(4, b"\0"), "little")


# The same rows and keys as worker/data/feature_hash_test.cc: change both or neither.
SELF_CHECK_ROWS = [  # minute, delay, distance, origin, destination
    (1, 33, 2176, "LAS", "PHL"),        # the file's first row
    (260640, 17, 332, "ATL", "MEM"),    # 2001-07-01 00:00, a Sunday
    (-1, -5, 0, "A", "WXYZ"),           # 2000-12-31 23:59; 1- and 4-letter codes
    (100000, 0, 65535, "SFO", "JFK"),   # 2001-03-11 10:40 (Sunday), top bucket
]
# Keys of all eight features, in FEATURES order; the first six columns are
# the default features' keys.
SELF_CHECK_KEYS_20 = [
    [680187, 573214, 845177, 236405, 1024711, 913930, 846165, 951326],
    [432281, 141634, 93228, 236405, 205662, 330649, 467377, 395605],
    [614890, 36028, 981750, 182054, 205662, 278947, 929306, 532699],
    [1657, 965444, 667033, 1027895, 205662, 190779, 219460, 876809],
]
SELF_CHECK_KEYS_64_ROW0 = [14954278209911939323, 7243226719594266398, 412416343170409849,
                           4132491476520377205, 3310286063217386183, 6081409776666669578,
                           10557441626069592405, 7505624095901254686]


def self_check():
    rec = np.array([(m, d, km, pack_code(o), pack_code(t)) for m, d, km, o, t in SELF_CHECK_ROWS],
                   dtype=PSF_RECORD)
    everything = list(FEATURES)
    # A feature's key must not depend on its position in the list.
    shuffled = ["dest_hour", "weekday", "origin", "origin_hour"]
    columns = [everything.index(name) for name in shuffled]
    expected_values = []
    for (_, _, _, o, t), hour, weekday, bucket in zip(
            SELF_CHECK_ROWS, [0, 0, 23, 10], [0, 6, 6, 6], [6, 1, 0, 7]):
        o, t = pack_code(o), pack_code(t)
        expected_values.append([o, t, o | t << 32, hour, weekday, bucket,
                                o | hour << 32, t | hour << 32])
    ok = True
    for name, got, want in [
            ("feature values", feature_values(rec, everything).tolist(), expected_values),
            ("default features' keys (20 bits)", hash_keys(rec, 20).tolist(),
             [row[:6] for row in SELF_CHECK_KEYS_20]),
            ("all features' keys (20 bits)", hash_keys(rec, 20, everything).tolist(),
             SELF_CHECK_KEYS_20),
            ("keys of " + ",".join(shuffled), hash_keys(rec, 20, shuffled).tolist(),
             [[row[c] for c in columns] for row in SELF_CHECK_KEYS_20]),
            ("keys (64 bits) of row 0", hash_keys(rec[:1], 64, everything)[0].tolist(),
             SELF_CHECK_KEYS_64_ROW0),
            ("labels", labels(rec).tolist(), [1.0, 1.0, 0.0, 0.0])]:
        if got != want:
            ok = False
            print(f"self-check: {name} differ:\n  got      {got}\n  expected {want}")
    print("self-check: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


# ---- Metrics ------------------------------------------------------------------

def auc(scores, y):
    """ROC AUC by the rank-sum (Mann-Whitney) formula; ties get average ranks."""
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y) > 0.5
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)                     # 1-based rank of each group's last
    ranks = (upper - (counts - 1) / 2.0)[inverse]  # average 1-based rank
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    return float((ranks[y].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def log_loss(logits, y):
    """Mean binary cross-entropy of sigmoid(logits), computed stably."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


# ---- Training -------------------------------------------------------------------

def log(message):
    print(message, file=sys.stderr, flush=True)


def train_and_evaluate(args):
    import torch  # Here, so --self-check needs only numpy.

    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    train = load_psf(os.path.join(args.data_dir, "train.psf"))
    test = load_psf(os.path.join(args.data_dir, "test.psf"))
    train_keys = torch.from_numpy(
        hash_keys(train, args.num_bits, args.features).astype(np.int64))
    train_y = torch.from_numpy(labels(train))
    test_keys = torch.from_numpy(
        hash_keys(test, args.num_bits, args.features).astype(np.int64))
    test_y = labels(test)
    log(f"loaded and hashed {len(train)} train + {len(test)} test rows in "
        f"{time.perf_counter() - started:.1f} s; train positives {train_y.mean():.3f}, "
        f"test positives {test_y.mean():.3f}")

    # w . x + b with x the 0/1 indicator of the row's len(features) keys: the
    # sum of that many embedding rows of width 1. Zero-initialised, as a
    # parameter server's sparse table starts.
    weights = torch.nn.EmbeddingBag(1 << args.num_bits, 1, mode="sum", sparse=True)
    torch.nn.init.zeros_(weights.weight)
    bias = torch.nn.Parameter(torch.zeros(1))
    params = [weights.weight, bias]
    if args.optimizer == "adagrad":
        optimizer = torch.optim.Adagrad(params, lr=args.lr)
    else:
        optimizer = torch.optim.SGD(params, lr=args.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def predict(keys):
        with torch.no_grad():
            return torch.cat([weights(keys[i:i + 65536]).squeeze(1) + bias
                              for i in range(0, len(keys), 65536)]).numpy()

    generator = torch.Generator().manual_seed(args.seed)
    epoch_seconds = []
    for epoch in range(args.epochs):
        order = (torch.randperm(len(train_y), generator=generator) if args.shuffle
                 else torch.arange(len(train_y)))
        epoch_keys, epoch_y = train_keys[order], train_y[order]
        loss_sum, batches = 0.0, 0
        tick = time.perf_counter()
        for i in range(0, len(epoch_y), args.batch):
            optimizer.zero_grad()
            logits = weights(epoch_keys[i:i + args.batch]).squeeze(1) + bias
            loss = loss_fn(logits, epoch_y[i:i + args.batch])
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            batches += 1
        epoch_seconds.append(time.perf_counter() - tick)
        test_logits = predict(test_keys)
        metrics = dict(loss=log_loss(test_logits, test_y), auc=auc(test_logits, test_y))
        log(f"epoch {epoch + 1}: {epoch_seconds[-1]:.2f} s "
            f"({len(epoch_y) / epoch_seconds[-1]:,.0f} examples/s), "
            f"train loss {loss_sum / batches:.4f}, test log-loss {metrics['loss']:.4f}, "
            f"test AUC {metrics['auc']:.4f}")
    seconds = float(np.mean(epoch_seconds))
    return dict(seconds=seconds, rate=len(train_y) / seconds, torch=torch.__version__,
                threads=torch.get_num_threads(), **metrics)


def markdown(args, result):
    header = ("| workload | model | optimizer | batch | epochs | s/epoch | examples/s "
              "| test log-loss | test AUC |")
    row = (f"| flights 2.7M/300k | PyTorch {result['torch']} sparse LR 2^{args.num_bits}, "
           f"{len(args.features)} features, {result['threads']} threads | {args.optimizer} lr {args.lr:g} | {args.batch} "
           f"| {args.epochs} | {result['seconds']:.2f} | {result['rate']:,.0f} "
           f"| {result['loss']:.4f} | {result['auc']:.4f} |")
    return header + "\n|" + "---|" * header.count(" |") + "\n" + row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="/var/lib/pscluster/flights")
    parser.add_argument("--self-check", action="store_true",
                        help="check the feature hash against worker/data/feature_hash_test.cc")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--optimizer", choices=["adagrad", "sgd"], default="adagrad")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--num-bits", type=int, default=20)
    parser.add_argument("--features", type=parse_features, default=list(DEFAULT_FEATURES),
                        help="comma-separated, from " + ",".join(FEATURES) +
                             "; default " + ",".join(DEFAULT_FEATURES))
    parser.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=True,
                        help="train in a seeded random order (default) or in file order")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
    args = parser.parse_args()
    if args.self_check:
        return self_check()
    print(markdown(args, train_and_evaluate(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
