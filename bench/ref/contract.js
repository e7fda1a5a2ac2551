// contract.js: the benchmark's wire contract (bench/README.md) for the Node
// reference servers: its limits, the echo fast path, the check of a stream
// request, and the token schedule.
'use strict';

const MAX_TOKENS = 10000;
const MAX_RATE = 10000;

// The echo fast path: a message whose first bytes are exactly this is sent
// back as is, without parsing it.
const ECHO_PREFIX = Buffer.from('{"type":"echo"');
const BAD_STREAM = '{"type":"error","error":"bad stream request"}';

function isEchoFast(data) {
  return data.length >= ECHO_PREFIX.length &&
    data.compare(ECHO_PREFIX, 0, ECHO_PREFIX.length, 0, ECHO_PREFIX.length) === 0;
}

function isInt(v, lo, hi) {
  return Number.isSafeInteger(v) && v >= lo && v <= hi;
}

// The values of a parsed stream request are in range.
function validStream(req) {
  return isInt(req.id, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) &&
    isInt(req.tokens, 0, MAX_TOKENS) && isInt(req.rate, 1, MAX_RATE);
}

// A stream request: the object, or null if the message is no stream request
// at all; throws if it is one with bad values.
function streamRequest(data) {
  let req;
  try {
    req = JSON.parse(data.toString());
  } catch (e) {
    return null;
  }
  if (req === null || typeof req !== 'object' || req.type !== 'stream') return null;
  if (!validStream(req)) throw new Error('bad stream request');
  return req;
}

// Token k is due at start + k * 1e9 / rate ns, scheduled against the start
// time so that timer lateness does not add up; a late timer hands over
// every token that is due. io: open() (false stops the stream), token(k),
// done(), and defer (take the first step after the current I/O).
function startStream(streams, req, io) {
  const start = process.hrtime.bigint();
  const stream = { timer: null };
  let k = 0;

  streams.add(stream);
  const step = () => {
    stream.timer = null;
    if (!io.open()) {
      streams.delete(stream);
      return;
    }
    const now = Number(process.hrtime.bigint() - start);
    while (k < req.tokens && k * 1e9 / req.rate <= now) io.token(k++);
    if (k >= req.tokens) {
      io.done();
      streams.delete(stream);
      return;
    }
    const wait = (k * 1e9 / req.rate - Number(process.hrtime.bigint() - start)) / 1e6;
    stream.timer = setTimeout(step, Math.max(1, Math.ceil(wait)));
  };
  if (io.defer) setImmediate(step);
  else step();
}

// The connection went away: stop its streams.
function stopStreams(streams) {
  for (const s of streams) clearTimeout(s.timer);
  streams.clear();
}

module.exports = {
  BAD_STREAM, isEchoFast, validStream, streamRequest, startStream, stopStreams,
};
