// Drive the unmodified @livekit/agents-plugin-baseten 1.3.0 streaming STT against a local server.
//
// node driver.cjs URL PCM_PATH LANGUAGE TAIL_WORDS SILENCE_MAX_S [SPEED]
//   PCM_PATH: raw 16 kHz mono s16le. It is pushed as 10 ms AudioFrames (what a LiveKit room track
//   yields) paced in real time, or SPEED times faster (the plugin sends frames as they come); then, as
//   room audio goes on in an agent, silence is pushed until a final containing TAIL_WORDS arrives (at most SILENCE_MAX_S). Then endInput(), which makes the
//   plugin close the socket at once, and close().
// Prints one JSON object per line: {"event": "interim"|"final", "text", "t_s"}, {"event": "error"},
// {"event": "input_ended"}, {"event": "done"}. t_s counts from the first frame.
// Run with NODE_PATH pointing at .build/clients/livekit-node/node_modules (see the Makefile).
'use strict';

const fs = require('node:fs');
const { initializeLogger, stt: sttTypes } = require('@livekit/agents');
const { AudioFrame } = require('@livekit/rtc-node');
const baseten = require('@livekit/agents-plugin-baseten');

const [url, pcmPath, language, tailWords, silenceMaxS, speedArg] = process.argv.slice(2);
const speed = Number(speedArg ?? '1');
const SAMPLE_RATE = 16000;
const FRAME_SAMPLES = 160; // 10 ms
const start = Date.now();
const print = (object) => process.stdout.write(`${JSON.stringify({ ...object, t_s: (Date.now() - start) / 1000 })}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const normalize = (text) => text.toLowerCase().replace(/[^a-z0-9' ]+/g, ' ').split(/\s+/).filter(Boolean).join(' ');

let framesSent = 0;

async function pushPaced(stream, pcm) {
  for (let offset = 0; offset < pcm.length; offset += FRAME_SAMPLES) {
    // slice(), not subarray(): the plugin sends frame.data.buffer, the whole underlying buffer.
    const samples = pcm.slice(offset, offset + FRAME_SAMPLES);
    stream.pushFrame(new AudioFrame(samples, SAMPLE_RATE, 1, samples.length));
    framesSent += 1;
    await sleep(start + (framesSent * FRAME_SAMPLES * 1000) / SAMPLE_RATE / speed - Date.now());
  }
}

async function main() {
  initializeLogger({ pretty: false, level: 'warn' });
  const bytes = fs.readFileSync(pcmPath);
  const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
  const stt = new baseten.STT({ apiKey: 'local-test', modelEndpoint: url, audioLanguage: language });
  stt.on('error', (error) => print({ event: 'error', message: String(error.error), recoverable: error.recoverable }));
  const stream = stt.stream();
  const tail = normalize(tailWords);
  let tailSeen = false;
  const reading = (async () => {
    for await (const event of stream) {
      const text = event.alternatives?.[0]?.text ?? '';
      if (event.type === sttTypes.SpeechEventType.FINAL_TRANSCRIPT) {
        print({ event: 'final', text, language: event.alternatives[0].language });
        tailSeen = tailSeen || normalize(text).includes(tail);
      } else if (event.type === sttTypes.SpeechEventType.INTERIM_TRANSCRIPT) {
        print({ event: 'interim', text });
      }
    }
  })();
  await pushPaced(stream, pcm);
  const silence = new Int16Array(FRAME_SAMPLES);
  const silenceEnd = Date.now() + Number(silenceMaxS) * 1000;
  while (!tailSeen && Date.now() < silenceEnd) await pushPaced(stream, silence);
  stream.endInput();
  print({ event: 'input_ended' });
  await Promise.race([reading, sleep(1000)]);
  stream.close();
  print({ event: 'done' });
  process.exit(0);
}

main().catch((error) => {
  print({ event: 'crash', message: String(error && error.stack ? error.stack : error) });
  process.exit(1);
});
