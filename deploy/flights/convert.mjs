// Converts vega-datasets' flights-3m.parquet into the two PSF1 files the
// worker reads (worker/data/flights_data.h documents the same format):
//
//   node convert.mjs INPUT.parquet OUT_DIR
//
// PSF1 ("parameter-server flights", version 1), all integers little-endian:
//
//   header, 16 bytes:
//     char[4]  magic        "PSF1"
//     uint32   record_size  16
//     uint64   row_count
//   row_count records of 16 bytes each:
//     int32    minute       minutes since 2001-01-01T00:00 of the local
//                           (not UTC-adjusted) departure time
//     int16    delay        departure delay in minutes, clamped to int16
//     uint16   distance     miles, clamped to [0, 65535]
//     char[4]  origin       IATA code, ASCII, NUL-padded
//     char[4]  destination  IATA code, ASCII, NUL-padded
//
// Records are fixed-size so a worker can seek straight to its shard.
// train.psf holds the first 90% of the rows in file order and test.psf the
// last 10%; the input is sorted by date, so the split is chronological.
//
// Both files are written to a temporary name and renamed into place, so a
// reader never sees a partial file. Anything the format cannot represent
// faithfully (a null, a non-ASCII or over-long code, a time outside int32
// minutes) fails the conversion; clamped values are counted and reported.

import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'

const HEADER_BYTES = 16
const RECORD_BYTES = 16
const TRAIN_FRACTION_NUM = 9n  // train rows = floor(N * 9 / 10)
const TRAIN_FRACTION_DEN = 10n
const EPOCH_MICROS = BigInt(Date.UTC(2001, 0, 1)) * 1000n
const MICROS_PER_MINUTE = 60_000_000n
const COLUMNS = ['date', 'delay', 'distance', 'origin', 'destination']

function fail(message) {
  console.error(`convert: ${message}`)
  process.exit(1)
}

// Per-column encoders: write the value of `row` into `records` and update
// `stats`. Each rejects what PSF1 cannot hold rather than guessing.
const encoders = {
  date(records, row, micros, stats) {
    const offset = BigInt(micros) - EPOCH_MICROS
    if (offset % MICROS_PER_MINUTE !== 0n) stats.subMinuteTimes++
    // Floor division so times before the epoch still land in their minute.
    let minute = offset / MICROS_PER_MINUTE
    if (offset < 0n && offset % MICROS_PER_MINUTE !== 0n) minute -= 1n
    if (minute < -(2n ** 31n) || minute >= 2n ** 31n) {
      fail(`row ${row}: date ${micros} us is outside int32 minutes since 2001`)
    }
    const m = Number(minute)
    stats.minMinute = Math.min(stats.minMinute, m)
    stats.maxMinute = Math.max(stats.maxMinute, m)
    records.writeInt32LE(m, HEADER_BYTES + row * RECORD_BYTES)
  },
  delay(records, row, value, stats) {
    let v = Number(value)
    if (v < -32768 || v > 32767) {
      stats.clampedDelays++
      v = Math.min(32767, Math.max(-32768, v))
    }
    stats.minDelay = Math.min(stats.minDelay, v)
    stats.maxDelay = Math.max(stats.maxDelay, v)
    if (v > 15) stats.delayedOver15++
    records.writeInt16LE(v, HEADER_BYTES + row * RECORD_BYTES + 4)
  },
  distance(records, row, value, stats) {
    let v = Number(value)
    if (v < 0 || v > 65535) {
      stats.clampedDistances++
      v = Math.min(65535, Math.max(0, v))
    }
    stats.maxDistance = Math.max(stats.maxDistance, v)
    records.writeUInt16LE(v, HEADER_BYTES + row * RECORD_BYTES + 6)
  },
  origin(records, row, code, stats) {
    writeCode(records, row, 8, code, 'origin', stats)
  },
  destination(records, row, code, stats) {
    writeCode(records, row, 12, code, 'destination', stats)
  },
}

function writeCode(records, row, fieldOffset, code, name, stats) {
  if (typeof code !== 'string' || !/^[\x21-\x7e]{1,4}$/.test(code)) {
    fail(`row ${row}: ${name} ${JSON.stringify(code)} is not 1-4 printable ASCII characters`)
  }
  if (code.length !== 3) stats.codesNotThreeLetters++
  stats.airports.add(code)
  // The buffer starts zeroed, so shorter codes stay NUL-padded.
  records.write(code, HEADER_BYTES + row * RECORD_BYTES + fieldOffset, 'latin1')
}

// Reads every column chunk straight into one buffer of PSF1 records (header
// space included), so memory stays near 16 bytes per row plus one row group.
async function readRecords(path) {
  const file = await asyncBufferFromFile(path)
  const metadata = await parquetMetadataAsync(file)
  const rows = Number(metadata.num_rows)
  const records = Buffer.alloc(HEADER_BYTES + rows * RECORD_BYTES)
  const filled = Object.fromEntries(COLUMNS.map((c) => [c, 0]))
  const stats = {
    rows, outOfOrder: 0, subMinuteTimes: 0,
    minMinute: Infinity, maxMinute: -Infinity, minDelay: Infinity, maxDelay: -Infinity,
    delayedOver15: 0, clampedDelays: 0, clampedDistances: 0, maxDistance: 0,
    codesNotThreeLetters: 0, airports: new Set(),
  }
  await parquetRead({
    file, metadata, compressors, columns: COLUMNS,
    // Keep timestamps as raw bigint micros instead of Date (ms precision).
    parsers: { timestampFromMicroseconds: (micros) => micros },
    onChunk({ columnName, columnData, rowStart, rowEnd }) {
      const encode = encoders[columnName]
      if (!encode) return
      for (let row = rowStart; row < rowEnd; row++) {
        const value = columnData[row - rowStart]
        if (value === null || value === undefined) fail(`row ${row}: ${columnName} is null`)
        encode(records, row, value, stats)
      }
      filled[columnName] += rowEnd - rowStart
    },
  })
  for (const column of COLUMNS) {
    if (filled[column] !== rows) {
      fail(`column ${column}: decoded ${filled[column]} values, expected ${rows}`)
    }
  }
  // Checked here, not per chunk: chunks of different row groups can arrive in
  // any order. The chronological split relies on the file's date order.
  for (let row = 1; row < rows; row++) {
    const offset = HEADER_BYTES + row * RECORD_BYTES
    if (records.readInt32LE(offset) < records.readInt32LE(offset - RECORD_BYTES)) stats.outOfOrder++
  }
  return { records, rows, stats }
}

// Writes header + records [begin, end) to OUT_DIR/name via a temporary file.
function writePsf(outDir, name, records, begin, end) {
  const header = Buffer.alloc(HEADER_BYTES)
  header.write('PSF1', 0, 'latin1')
  header.writeUInt32LE(RECORD_BYTES, 4)
  header.writeBigUInt64LE(BigInt(end - begin), 8)
  const body = records.subarray(HEADER_BYTES + begin * RECORD_BYTES, HEADER_BYTES + end * RECORD_BYTES)
  const finalPath = join(outDir, name)
  const tempPath = `${finalPath}.tmp.${process.pid}`
  const fd = openSync(tempPath, 'w', 0o644)
  for (const chunk of [header, body]) {
    for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done)
  }
  fsyncSync(fd)
  closeSync(fd)
  renameSync(tempPath, finalPath)
  console.log(`convert: wrote ${finalPath}: ${end - begin} rows (source rows ${begin}..${end - 1})`)
}

async function main() {
  const [input, outDir] = process.argv.slice(2)
  if (!input || !outDir) fail('usage: node convert.mjs INPUT.parquet OUT_DIR')
  const started = Date.now()
  const { records, rows, stats } = await readRecords(input)
  const trainRows = Number((BigInt(rows) * TRAIN_FRACTION_NUM) / TRAIN_FRACTION_DEN)
  mkdirSync(outDir, { recursive: true })
  writePsf(outDir, 'train.psf', records, 0, trainRows)
  writePsf(outDir, 'test.psf', records, trainRows, rows)
  const { airports, ...shown } = stats
  console.log(`convert: ${JSON.stringify({ ...shown, airports: airports.size })}`)
  console.log(`convert: done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

await main()
