#!/usr/bin/env python3
"""An independent, encryption-capable Matrix client for Aqueduct's tests.

A long-running process around matrix-nio (with its vodozemac-based e2e support) that speaks
JSON lines: one command per stdin line, one reply per stdout line, in order. Logs go to stderr;
stdout carries nothing but replies.

Command: {"cmd": "<name>", "id": <any, echoed back>, ...arguments}
Reply:   {"id": ..., "ok": true, ...result} or {"id": ..., "ok": false, "error": "..."}

The client syncs continuously in the background once logged in, keeps its keys in a store
directory, shares room keys with every device of a room's members without asking for
verification (ignore_unverified_devices) and accepts room keys from any device.

See crates/aqueduct-testkit/src/nio_client.rs for the commands and their arguments.
"""

import asyncio
import hashlib
import io
import json
import logging
import os
import sys
import time
import traceback

# Replies own the real stdout; anything else that prints (libraries included) goes to stderr.
REPLIES = sys.stdout
sys.stdout = sys.stderr

from nio import (  # noqa: E402
    AsyncClient,
    AsyncClientConfig,
    BadEvent,
    DownloadError,
    EncryptionError,
    Event,
    JoinError,
    JoinedMembersError,
    KeysQueryError,
    KeysUploadError,
    LoginError,
    MegolmEvent,
    RoomCreateError,
    RoomPreset,
    RoomSendError,
    SyncResponse,
    UnknownBadEvent,
    UploadError,
)
from nio.crypto import decrypt_attachment  # noqa: E402

log = logging.getLogger("nio_client")

MEGOLM = "m.megolm.v1.aes-sha2"
MEDIA_MSGTYPES = ("m.image", "m.file", "m.video", "m.audio")
# How long commands that wait for the client's own sync (join, create_room) wait.
SYNC_WAIT_SECS = 20.0


class CommandError(Exception):
    """A command failed in a way the caller should read."""


class Record:
    """One timeline event as the client saw it, decrypted where it could be."""

    def __init__(self, room_id, event):
        self.room_id = room_id
        self.consumed = False
        self.megolm = None  # the undecrypted MegolmEvent, while it stays undecryptable
        self.reason = None  # why it could not be decrypted (or parsed)
        self.update(event)

    def update(self, event):
        source = getattr(event, "source", None) or {}
        self.event_id = source.get("event_id") or getattr(event, "event_id", None)
        self.sender = source.get("sender") or getattr(event, "sender", None)
        self.type = source.get("type")
        self.content = source.get("content") or {}
        self.encrypted = bool(getattr(event, "decrypted", False))
        self.session_id = getattr(event, "session_id", None)
        if isinstance(event, MegolmEvent):
            self.megolm = event
            self.type = "m.room.encrypted"
            self.encrypted = False
            self.reason = self.reason or "no room key for this session yet"
        elif isinstance(event, (BadEvent, UnknownBadEvent)):
            self.megolm = None
            self.reason = f"malformed event: {getattr(event, 'reason', None) or event}"
            if self.type == "m.room.encrypted":
                self.session_id = self.content.get("session_id")
        else:
            self.megolm = None
            self.reason = None

    @property
    def undecryptable(self):
        return self.type == "m.room.encrypted" and not self.encrypted

    def summary(self):
        out = {
            "event_id": self.event_id,
            "sender": self.sender,
            "type": self.type,
            "msgtype": self.content.get("msgtype"),
            "body": self.content.get("body"),
            "encrypted": self.encrypted,
            "session_id": self.session_id,
        }
        if self.undecryptable:
            out["undecryptable"] = {"session_id": self.session_id, "reason": self.reason}
        return out


class NioDriver:
    def __init__(self):
        self.client = None
        self.sync_task = None
        self.changed = asyncio.Condition()
        self.synced_once = asyncio.Event()
        self.sync_error = None
        # room id -> list of Record, in arrival order
        self.records = {}
        self.by_event_id = {}

    # ---- plumbing -------------------------------------------------------------------------

    def need_client(self):
        if self.client is None:
            raise CommandError("not logged in: send `login` first")
        return self.client

    async def notify(self):
        async with self.changed:
            self.changed.notify_all()

    async def wait_until(self, predicate, timeout, what):
        """Waits until predicate() is truthy, re-checking after every sync."""
        deadline = time.monotonic() + timeout
        async with self.changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandError(f"timed out after {timeout}s waiting for {what}")
                try:
                    await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
                except asyncio.TimeoutError:
                    pass

    async def on_event(self, room, event):
        room_id = room.room_id
        event_id = getattr(event, "event_id", None) or (getattr(event, "source", {}) or {}).get(
            "event_id"
        )
        if event_id and event_id in self.by_event_id:
            self.by_event_id[event_id].update(event)
            return
        record = Record(room_id, event)
        self.records.setdefault(room_id, []).append(record)
        if event_id:
            self.by_event_id[event_id] = record

    def retry_undecrypted(self):
        """Room keys can arrive after the events they unlock; try the waiting ones again."""
        client = self.client
        for records in self.records.values():
            for record in records:
                if record.megolm is None:
                    continue
                try:
                    event = client.decrypt_event(record.megolm)
                except EncryptionError as e:
                    record.reason = str(e)
                    continue
                except Exception as e:  # noqa: BLE001 - keep the sync loop alive
                    record.reason = f"{type(e).__name__}: {e}"
                    continue
                if isinstance(event, MegolmEvent):
                    continue
                event.room_id = record.room_id
                record.update(event)

    async def on_sync(self, response):
        # Room keys arrive as to-device events; without any, a retry cannot succeed.
        if response.to_device_events:
            self.retry_undecrypted()
        self.synced_once.set()
        await self.notify()

    async def sync_loop(self):
        client = self.client
        while True:
            try:
                await client.sync_forever(timeout=5000, full_state=True)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a failed sync is retried, not fatal
                self.sync_error = f"{type(e).__name__}: {e}"
                log.warning("sync failed, retrying: %s", self.sync_error)
                await asyncio.sleep(0.5)

    async def wait_room(self, room_id, timeout=SYNC_WAIT_SECS):
        client = self.need_client()
        return await self.wait_until(
            lambda: client.rooms.get(room_id), timeout, f"room {room_id} to appear in sync"
        )

    async def prepare_send(self, room_id):
        """Makes sure every member's devices are known and have Olm sessions before sending."""
        client = self.need_client()
        room = await self.wait_room(room_id)
        if not room.encrypted:
            return room
        if not room.members_synced:
            resp = await client.joined_members(room_id)
            if isinstance(resp, JoinedMembersError):
                raise CommandError(f"joined_members failed: {resp}")
        if client.should_query_keys:
            resp = await client.keys_query()
            if isinstance(resp, KeysQueryError):
                raise CommandError(f"keys query failed: {resp}")
        missing = client.get_missing_sessions(room_id)
        if missing:
            await client.keys_claim(missing)
        return room

    def outbound_session_id(self, room_id):
        olm = self.client.olm
        session = olm.outbound_group_sessions.get(room_id) if olm else None
        return session.id if session else None

    async def send(self, room_id, content, event_type="m.room.message"):
        client = self.need_client()
        room = await self.prepare_send(room_id)
        resp = await client.room_send(
            room_id, event_type, content, ignore_unverified_devices=True
        )
        if isinstance(resp, RoomSendError):
            raise CommandError(f"send failed: {resp}")
        out = {"event_id": resp.event_id, "encrypted": bool(room.encrypted)}
        if room.encrypted:
            out["session_id"] = self.outbound_session_id(room_id)
        return out

    async def download(self, mxc):
        resp = await self.client.download(mxc=mxc)
        if isinstance(resp, DownloadError):
            raise CommandError(f"downloading {mxc} failed: {resp}")
        return resp.body

    # ---- commands -------------------------------------------------------------------------

    async def cmd_login(self, homeserver, user_id, password, store_dir, device_id=None):
        if self.client is not None:
            raise CommandError("already logged in")
        os.makedirs(store_dir, exist_ok=True)
        config = AsyncClientConfig(store_sync_tokens=True, encryption_enabled=True)
        client = AsyncClient(
            homeserver, user_id, device_id=device_id, store_path=store_dir, config=config
        )
        resp = await client.login(password, device_name="aqueduct nio test client")
        if isinstance(resp, LoginError):
            await client.close()
            raise CommandError(f"login failed: {resp}")
        if client.should_upload_keys:
            up = await client.keys_upload()
            if isinstance(up, KeysUploadError):
                raise CommandError(f"uploading keys failed: {up}")
        self.client = client
        client.add_event_callback(self.on_event, (Event, BadEvent, UnknownBadEvent))
        client.add_response_callback(self.on_sync, SyncResponse)
        self.sync_task = asyncio.create_task(self.sync_loop())
        await self.wait_until(
            lambda: self.synced_once.is_set(), SYNC_WAIT_SECS, "the first sync"
        )
        return {"user_id": client.user_id, "device_id": client.device_id}

    async def cmd_join(self, room_id):
        client = self.need_client()
        resp = await client.join(room_id)
        if isinstance(resp, JoinError):
            raise CommandError(f"join {room_id} failed: {resp}")
        await self.wait_room(resp.room_id)
        return {"room_id": resp.room_id}

    async def cmd_accept_invites(self):
        client = self.need_client()
        joined = []
        for room_id in list(client.invited_rooms):
            if room_id in client.rooms:
                continue
            await self.cmd_join(room_id)
            joined.append(room_id)
        return {"joined": joined}

    async def cmd_wait_invite(self, timeout):
        client = self.need_client()

        def pending():
            for room_id in client.invited_rooms:
                if room_id not in client.rooms:
                    return room_id
            return None

        room_id = await self.wait_until(pending, timeout, "an invite")
        return {"room_id": room_id}

    async def cmd_wait_member(self, room_id, user_id, timeout):
        await self.wait_room(room_id)
        client = self.need_client()
        room = client.rooms[room_id]
        await self.wait_until(
            lambda: user_id in room.users and user_id not in room.invited_users,
            timeout,
            f"{user_id} to join {room_id}",
        )
        return {}

    async def cmd_create_room(self, encrypted, invite=(), is_direct=False, name=None):
        client = self.need_client()
        initial_state = []
        if encrypted:
            initial_state.append(
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
            )
        resp = await client.room_create(
            name=name,
            is_direct=is_direct,
            preset=RoomPreset.trusted_private_chat if is_direct else RoomPreset.private_chat,
            invite=list(invite),
            initial_state=initial_state,
        )
        if isinstance(resp, RoomCreateError):
            raise CommandError(f"creating the room failed: {resp}")
        room_id = resp.room_id
        await self.wait_until(
            lambda: (room := client.rooms.get(room_id)) and (room.encrypted or not encrypted),
            SYNC_WAIT_SECS,
            f"room {room_id} to appear in sync",
        )
        return {"room_id": room_id}

    async def cmd_send_text(self, room_id, body):
        return await self.send(room_id, {"msgtype": "m.text", "body": body})

    async def cmd_send_event(self, room_id, event_type, content):
        return await self.send(room_id, content, event_type)

    async def cmd_send_image(self, room_id, path, mime):
        client = self.need_client()
        room = await self.prepare_send(room_id)
        with open(path, "rb") as f:
            data = f.read()
        name = os.path.basename(path)
        resp, keys = await client.upload(
            io.BytesIO(data),
            content_type="application/octet-stream" if room.encrypted else mime,
            filename=name,
            encrypt=bool(room.encrypted),
            filesize=len(data),
        )
        if isinstance(resp, UploadError):
            raise CommandError(f"upload failed: {resp}")
        content = {
            "msgtype": "m.image",
            "body": name,
            "info": {"mimetype": mime, "size": len(data)},
        }
        if room.encrypted:
            content["file"] = {**keys, "url": resp.content_uri}
        else:
            content["url"] = resp.content_uri
        out = await self.send(room_id, content)
        out["sha256"] = hashlib.sha256(data).hexdigest()
        return out

    async def media_sha256(self, content):
        file = content.get("file")
        if isinstance(file, dict):
            ciphertext = await self.download(file["url"])
            try:
                plain = decrypt_attachment(
                    ciphertext, file["key"]["k"], file["hashes"]["sha256"], file["iv"]
                )
            except Exception as e:  # noqa: BLE001 - reported to the test
                raise CommandError(f"decrypting {file['url']} failed: {e}")
        elif content.get("url"):
            plain = await self.download(content["url"])
        else:
            return None
        return hashlib.sha256(plain).hexdigest()

    async def cmd_wait_message(
        self,
        room_id,
        timeout,
        sender=None,
        body_contains=None,
        msgtype=None,
        event_type="m.room.message",
    ):
        client = self.need_client()

        def sender_ok(record):
            if sender is not None:
                return record.sender == sender
            return record.sender != client.user_id

        def matches(record):
            if record.consumed or record.type != event_type or not sender_ok(record):
                return False
            if msgtype is not None and record.content.get("msgtype") != msgtype:
                return False
            body = record.content.get("body")
            if body_contains is not None and (not isinstance(body, str) or body_contains not in body):
                return False
            return True

        def find():
            for record in self.records.get(room_id, []):
                if matches(record):
                    return record
            return None

        try:
            record = await self.wait_until(find, timeout, "a matching message")
        except CommandError as e:
            bad = [
                r
                for r in self.records.get(room_id, [])
                if r.undecryptable and not r.consumed and sender_ok(r)
            ]
            if bad:
                details = "; ".join(
                    f"{r.event_id} from {r.sender} (session {r.session_id}): {r.reason}"
                    for r in bad
                )
                raise CommandError(f"{e}; {len(bad)} event(s) could not be decrypted: {details}")
            raise
        record.consumed = True
        out = record.summary()
        out["content"] = record.content
        if record.content.get("msgtype") in MEDIA_MSGTYPES:
            out["sha256"] = await self.media_sha256(record.content)
        return out

    async def cmd_messages_seen(self, room_id):
        self.need_client()
        return {"messages": [r.summary() for r in self.records.get(room_id, [])]}

    async def cmd_rotate_room_key(self, room_id):
        client = self.need_client()
        previous = self.outbound_session_id(room_id)
        client.olm.outbound_group_sessions.pop(room_id, None)
        return {"previous_session_id": previous}

    async def cmd_devices(self, user_id):
        client = self.need_client()
        if user_id not in client.olm.tracked_users:
            client.olm.users_for_key_query.add(user_id)
        if client.should_query_keys:
            resp = await client.keys_query()
            if isinstance(resp, KeysQueryError):
                raise CommandError(f"keys query failed: {resp}")
        devices = sorted(d.id for d in client.device_store.active_user_devices(user_id))
        return {"devices": devices}

    async def cmd_wait_device(self, user_id, device_id, timeout):
        client = self.need_client()
        if user_id not in client.olm.tracked_users:
            client.olm.users_for_key_query.add(user_id)
        deadline = time.monotonic() + timeout
        while True:
            if client.should_query_keys:
                resp = await client.keys_query()
                if isinstance(resp, KeysQueryError):
                    raise CommandError(f"keys query failed: {resp}")
            devices = {d.id for d in client.device_store.active_user_devices(user_id)}
            if device_id in devices:
                return {"devices": sorted(devices)}
            left = deadline - time.monotonic()
            # Woken by the next sync, whose device list changes mark the user for a query.
            await self.wait_until(
                lambda: client.should_query_keys,
                max(left, 0),
                f"device {device_id} of {user_id} (known: {sorted(devices)})",
            )

    async def cmd_close(self):
        await self.shutdown()
        return {}

    async def shutdown(self):
        if self.sync_task is not None:
            self.sync_task.cancel()
            try:
                await self.sync_task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self.sync_task = None
        if self.client is not None:
            await self.client.close()
            self.client = None


def reply(message):
    REPLIES.write(json.dumps(message) + "\n")
    REPLIES.flush()


async def main():
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("AQUEDUCT_NIO_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    driver = NioDriver()
    while True:
        line = await reader.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        request_id = None
        try:
            request = json.loads(line)
            request_id = request.pop("id", None)
            name = request.pop("cmd")
            handler = getattr(driver, f"cmd_{name}", None)
            if handler is None:
                raise CommandError(f"unknown command {name!r}")
            log.info("command %s", name)
            result = await handler(**request)
            reply({"id": request_id, "ok": True, **result})
            if name == "close":
                return
        except CommandError as e:
            reply({"id": request_id, "ok": False, "error": str(e)})
        except Exception as e:  # noqa: BLE001 - every failure becomes a reply
            log.error("command failed:\n%s", traceback.format_exc())
            reply({"id": request_id, "ok": False, "error": f"{type(e).__name__}: {e}"})
    await driver.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
