"""PyPI `livekit` (LiveKit's own real-time SDK, with its WebRTC) as a room participant for
the Rust tests: it joins a room with a token the gateway minted, speaks a tone, and reports
what it hears. One JSON request per line on stdin, one JSON answer per line on stdout.

- {"op": "join", "url", "token", "tone_hz"}: connect, publish a microphone track playing
  a `tone_hz` sine (0: publish nothing) and subscribe to every audio track; answers
  {"ok", "identity", "remote": [identities], "error"?}.
- {"op": "listen", "seconds"}: record what the subscribed audio plays for that long;
  answers {"ok", "dominant": [Hz or null per 100 ms block], "rms": [per block]}.
- {"op": "leave"}: disconnect; answers {"ok"}.
"""

import asyncio
import json
import sys
import threading

import numpy as np
from livekit import rtc

RATE = 48000
BLOCK = RATE // 10


class Peer:
    def __init__(self):
        self.room = None
        self.heard = []  # int16 chunks from every subscribed audio track, mixed by arrival
        self.recording = False
        self.tasks = []
        self.receivers = {}  # track sid -> its receiving task (one per track)

    async def join(self, url, token, tone_hz):
        self.room = rtc.Room()

        @self.room.on("track_subscribed")
        def on_track(track, _publication, _participant):
            if track.kind == rtc.TrackKind.KIND_AUDIO:
                old = self.receivers.pop(track.sid, None)
                if old is not None:
                    old.cancel()
                self.receivers[track.sid] = asyncio.ensure_future(self.receive(track))

        @self.room.on("track_unsubscribed")
        def on_untrack(track, _publication, _participant):
            old = self.receivers.pop(track.sid, None)
            if old is not None:
                old.cancel()

        await self.room.connect(url, token, options=rtc.RoomOptions(auto_subscribe=True))
        if tone_hz:
            source = rtc.AudioSource(RATE, 1)
            track = rtc.LocalAudioTrack.create_audio_track("microphone", source)
            opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            await self.room.local_participant.publish_track(track, opts)
            self.tasks.append(asyncio.ensure_future(self.speak(source, tone_hz)))
        return {
            "ok": True,
            "identity": self.room.local_participant.identity,
            "remote": sorted(self.room.remote_participants.keys()),
        }

    async def speak(self, source, hz):
        n = RATE // 100
        t = 0
        while True:
            k = np.arange(t, t + n)
            samples = (0.3 * 32767 * np.sin(2 * np.pi * hz * k / RATE)).astype(np.int16)
            frame = rtc.AudioFrame.create(RATE, 1, n)
            np.frombuffer(frame.data, dtype=np.int16)[:] = samples
            await source.capture_frame(frame)  # paced by the source's queue
            t += n

    async def receive(self, track):
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        async for ev in stream:
            if self.recording:
                self.heard.append(np.frombuffer(ev.frame.data, dtype=np.int16).copy())

    async def listen(self, seconds):
        self.heard = []
        self.recording = True
        await asyncio.sleep(seconds)
        self.recording = False
        pcm = np.concatenate(self.heard) if self.heard else np.zeros(0, dtype=np.int16)
        x = pcm.astype(np.float32) / 32768.0
        dominant, rms = [], []
        for i in range(len(x) // BLOCK):
            b = x[i * BLOCK : (i + 1) * BLOCK]
            level = float(np.sqrt(np.mean(b * b)))
            rms.append(level)
            if level < 1e-3:
                dominant.append(None)
                continue
            spectrum = np.abs(np.fft.rfft(b * np.hanning(len(b))))
            dominant.append(float(np.argmax(spectrum[1:]) + 1) * RATE / len(b))
        return {"ok": True, "dominant": dominant, "rms": rms}

    async def leave(self):
        for t in self.tasks + list(self.receivers.values()):
            t.cancel()
        if self.room is not None:
            await self.room.disconnect()
        return {"ok": True}


def main():
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    peer = Peer()
    for line in sys.stdin:
        req = json.loads(line)
        op = req.get("op")
        if op == "join":
            coro = peer.join(req["url"], req["token"], req.get("tone_hz", 0))
        elif op == "listen":
            coro = peer.listen(float(req["seconds"]))
        elif op == "leave":
            coro = peer.leave()
        else:
            print(json.dumps({"ok": False, "error": f"unknown op {op}"}), flush=True)
            continue
        try:
            answer = asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)
        except Exception as e:  # a failed join is an answer, not a crash
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
