"""pods/exec over real WebSockets: channels, exit codes, stdin, v5 close, fallback, hostile input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from lab_helpers import KUBECTL, LabAPI, needs_kubectl, pod, read_exec, run, stream_url, ws_open

from kom_async.lab import EKSLab, FakeClock
from kom_async.lab.channels import MAX_FRAME

EXEC = "/api/v1/namespaces/demo/pods/web-0/exec"


def cmd(*argv: str, stdin: bool = False, stderr: bool = True, tty: bool = False) -> list[tuple[str, str]]:
    params = [("command", a) for a in argv] + [("stdout", "true")]
    if stdin:
        params.append(("stdin", "true"))
    if stderr:
        params.append(("stderr", "true"))
    if tty:
        params.append(("tty", "true"))
    return params


async def test_echo_over_v5_prints_stdout_and_reports_success_on_the_error_channel(api: LabAPI) -> None:
    async with await ws_open(api, EXEC, cmd("echo", "hello", "lab")) as ws:
        assert ws.protocol == "v5.channel.k8s.io"
        out, err, status, seen = await read_exec(ws)
    assert out == b"hello lab\n" and err == b""
    assert status == {"metadata": {}, "status": "Success"}
    assert seen[0] == 1 and seen[-1] == 3  # an empty frame opens stdout, the status ends the stream


async def test_exit_codes_come_back_as_non_zero_exit_code_status_with_an_exit_code_cause(api: LabAPI) -> None:
    for argv, code in ((["sh", "-c", "exit 3"], 3), (["false"], 1), (["/bin/sh", "-c", "true && exit 300"], 44)):
        async with await ws_open(api, EXEC, cmd(*argv)) as ws:
            _, _, status, _ = await read_exec(ws)
        assert status is not None and status["status"] == "Failure"
        assert status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": str(code)}]
        assert f"exit code {code}" in status["message"]


async def test_stderr_has_its_own_channel_and_a_tty_merges_it_with_crlf(api: LabAPI) -> None:
    script = "echo to-out; echo to-err >&2; exit 2"
    async with await ws_open(api, EXEC, cmd("sh", "-c", script)) as ws:
        out, err, status, _ = await read_exec(ws)
    assert (out, err) == (b"to-out\n", b"to-err\n")
    assert status is not None and status["details"]["causes"][0]["message"] == "2"
    async with await ws_open(api, EXEC, cmd("sh", "-c", script, tty=True)) as ws:
        out, err, _, seen = await read_exec(ws)
    assert (out, err) == (b"to-out\r\nto-err\r\n", b"") and 2 not in seen


async def test_cat_copies_stdin_until_the_v5_close_signal_for_stdin(api: LabAPI) -> None:
    async with await ws_open(api, EXEC, cmd("cat", stdin=True)) as ws:
        for chunk in (b"one ", b"two\n", b"three"):
            await ws.send_bytes(b"\x00" + chunk)
        await ws.send_bytes(b"\xff\x00")  # v5: close channel 0
        out, _, status, _ = await read_exec(ws)
    assert out == b"one two\nthree"
    assert status is not None and status["status"] == "Success"
    big = b"x" * (MAX_FRAME - 10)
    async with await ws_open(api, EXEC, cmd("wc", "-c", stdin=True)) as ws:
        for _ in range(5):
            await ws.send_bytes(b"\x00" + big)
        await ws.send_bytes(b"\xff\x00")
        out, _, _, _ = await read_exec(ws)
    assert out == f"{5 * len(big)}\n".encode()


async def test_v4_is_the_fallback_and_ignores_the_v5_close_signal(api: LabAPI) -> None:
    async with await ws_open(api, EXEC, cmd("cat", stdin=True), protocols=("v4.channel.k8s.io",)) as ws:
        assert ws.protocol == "v4.channel.k8s.io"
        assert (await ws.receive_bytes()) == b"\x01"
        await ws.send_bytes(b"\xff\x00")  # not a close under v4: cat keeps reading
        await ws.send_bytes(b"\x00ping")
        assert (await ws.receive_bytes()) == b"\x01ping"
    async with await ws_open(api, EXEC, cmd("true"), protocols=("v4.channel.k8s.io",)) as ws:
        _, _, status, _ = await read_exec(ws)
    assert status == {"metadata": {}, "status": "Success"}


async def test_env_and_printenv_come_from_the_pod_spec(api: LabAPI) -> None:
    body = pod("envy")
    body["spec"]["containers"][0]["env"] = [{"name": "GREETING", "value": "hi there"}, {"name": "EMPTY"}]
    assert (await api.post("/api/v1/namespaces/demo/pods", body))[0] == 201
    path = "/api/v1/namespaces/demo/pods/envy/exec"
    async with await ws_open(api, path, cmd("printenv", "GREETING", "HOSTNAME")) as ws:
        out, _, status, _ = await read_exec(ws)
    assert out == b"hi there\nenvy\n" and status is not None and status["status"] == "Success"
    async with await ws_open(api, path, cmd("env")) as ws:
        out, _, _, _ = await read_exec(ws)
    assert b"GREETING=hi there\n" in out and b"EMPTY=\n" in out
    async with await ws_open(api, path, cmd("printenv", "MISSING")) as ws:
        out, _, status, _ = await read_exec(ws)
    assert out == b"" and status is not None and status["details"]["causes"][0]["message"] == "1"


async def test_unknown_programs_fail_to_start_and_unknown_shell_commands_exit_127(api: LabAPI) -> None:
    async with await ws_open(api, EXEC, cmd("definitely-not-here")) as ws:
        _, _, status, _ = await read_exec(ws)
    assert status is not None and (status["reason"], status["code"]) == ("InternalError", 500)
    assert "executable file not found in $PATH" in status["message"]
    for argv in (["/etc/passwd"], ["../../bin/sh", "-c", "true"], ["python3", "-c", "print(1)"]):
        async with await ws_open(api, EXEC, cmd(*argv)) as ws:
            _, _, status, _ = await read_exec(ws)
        assert status is not None and status["reason"] == "InternalError", argv
    async with await ws_open(api, EXEC, cmd("sh", "-c", "rm -rf / ; echo after")) as ws:
        out, err, status, _ = await read_exec(ws)
    assert err == b"sh: 1: rm: not found\n" and out == b"after\n"
    assert status is not None and status["status"] == "Success"
    async with await ws_open(api, EXEC, cmd("sh", "-c", "nope")) as ws:
        _, _, status, _ = await read_exec(ws)
    assert status is not None and status["details"]["causes"][0]["message"] == "127"


async def test_sleep_follows_the_lab_clock_and_a_client_that_leaves_cancels_the_command(
    lab_clock: FakeClock, eks_lab: EKSLab, api: LabAPI
) -> None:
    async with await ws_open(api, EXEC, cmd("sh", "-c", "sleep 30; echo woke")) as ws:
        assert (await ws.receive_bytes()) == b"\x01"
        while lab_clock.sleepers == 0:
            await asyncio.sleep(0.01)
        lab_clock.advance(29)
        lab_clock.advance(1)
        out, _, status, _ = await read_exec(ws)
    assert out == b"woke\n" and status is not None and status["status"] == "Success"

    ws = await ws_open(api, EXEC, cmd("sleep", "3600"))
    while lab_clock.sleepers == 0:
        await asyncio.sleep(0.01)
    await ws.close()
    while lab_clock.sleepers:  # the server cancelled the command when the client went away
        await asyncio.sleep(0.01)


async def test_requests_are_validated_before_the_upgrade_like_the_api_server(api: LabAPI) -> None:
    async def status_of(params: list[tuple[str, str]], **kw: str) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {api.token}", "Connection": "Upgrade", "Upgrade": "websocket"}
        headers.update({"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        headers.update(kw)
        async with api.session.get(stream_url(api, EXEC, params), headers=headers, ssl=api.ssl) as resp:
            return resp.status, await resp.text()

    proto = {"Sec-WebSocket-Protocol": "v5.channel.k8s.io"}
    assert (await status_of([("stdout", "true")], **proto))[0] == 400  # no command
    code, text = await status_of([("command", "ls")], **proto)  # no stream requested
    assert code == 400 and "at least 1 of stdin, stdout, stderr" in text
    code, text = await status_of([*cmd("true"), ("container", "nope")], **proto)
    assert code == 400 and "container nope is not valid" in text
    assert (await status_of([*cmd("true"), ("stdin", "maybe")], **proto))[0] == 400
    code, text = await status_of(cmd("true"), **{"Sec-WebSocket-Protocol": "channel.k8s.io, v3.channel.k8s.io"})
    assert code == 403 and "requested protocol(s) are not supported" in text
    async with api.session.post(
        stream_url(api, EXEC, cmd("true")), headers={"Authorization": f"Bearer {api.token}"}, ssl=api.ssl
    ) as resp:
        assert resp.status == 400 and "Upgrade request required" in await resp.text()
    status, body = await api.get("/api/v1/namespaces/demo/pods/ghost/exec", params={"command": "true"})
    assert (status, body["reason"]) == (404, "NotFound")


async def test_exec_needs_a_valid_token_before_the_upgrade_and_viewers_may_not_exec(
    eks_lab: EKSLab, api: LabAPI
) -> None:
    for token in ("not-a-token", ""):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            await api.session.ws_connect(
                stream_url(api, EXEC, cmd("true")), protocols=("v5.channel.k8s.io",), headers=headers, ssl=api.ssl
            )
            raise AssertionError("upgraded without a valid token")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 401
    eks_lab.add_static_token("lab", "viewer-token", "viewer", groups=["lab:view"])
    try:
        await ws_open(api, EXEC, cmd("true"), token="viewer-token")
        raise AssertionError("a viewer could exec")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 403
    assert eks_lab.stats("lab").verbs["create"] >= 1


async def test_hostile_frames_are_ignored_or_bounded_and_the_server_keeps_serving(api: LabAPI) -> None:
    async with await ws_open(api, EXEC, cmd("cat", stdin=True, tty=True)) as ws:
        assert (await ws.receive_bytes()) == b"\x01"
        for junk in (b"", b"\x01stdout?", b"\x03status?", b"\x09nine", b"\xfe", b"\xff", b"\xff\x01\x02"):
            await ws.send_bytes(junk)
        await ws.send_str("0text frames carry nothing")
        await ws.send_bytes(b'\x04{"Width": "wide"}')
        await ws.send_bytes(b"\x04not json")
        await ws.send_bytes(b"\x00still here\n")
        assert (await ws.receive_bytes()) == b"\x01still here\r\n"
        await ws.send_bytes(b"\xff\x00")
        _, _, status, _ = await read_exec(ws)
    assert status is not None and status["status"] == "Success"

    ws = await ws_open(api, EXEC, cmd("cat", stdin=True))
    await ws.send_bytes(b"\x00" + b"y" * (MAX_FRAME + 1))
    msg = await ws.receive()
    while msg.type == aiohttp.WSMsgType.BINARY:
        msg = await ws.receive()
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    await ws.close()  # the server dropped the socket (1009 or abruptly) rather than buffer the frame
    assert ws.close_code in (aiohttp.WSCloseCode.MESSAGE_TOO_BIG, aiohttp.WSCloseCode.ABNORMAL_CLOSURE)
    async with await ws_open(api, EXEC, cmd("echo", "fine")) as ws:
        assert (await read_exec(ws))[0] == b"fine\n"


async def test_a_tty_resize_is_what_stty_size_reports(api: LabAPI) -> None:
    async with await ws_open(api, EXEC, cmd("sh", "-c", "sleep 0; stty size", stdin=True, tty=True)) as ws:
        await ws.send_bytes(b"\x04" + json.dumps({"Width": 132, "Height": 43}).encode())
        await ws.send_bytes(b"\xff\x00")
        out, _, _, _ = await read_exec(ws)
    assert out in (b"43 132\r\n", b"24 80\r\n")  # the resize may race the command's start
    async with await ws_open(api, EXEC, cmd("stty", "size")) as ws:
        _, err, status, _ = await read_exec(ws)
    assert b"Inappropriate ioctl" in err and status is not None and status["status"] == "Failure"


@needs_kubectl
async def test_kubectl_exec_runs_commands_passes_stdin_and_exits_with_the_command_code(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    assert KUBECTL is not None
    kc = str(eks_lab.write_kubeconfig(tmp_path / "kc", "lab", static_token=True, namespace="demo"))
    rc, out, err = await run(KUBECTL, "--kubeconfig", kc, "exec", "web-0", "--", "echo", "from", "kubectl")
    assert (rc, out) == (0, "from kubectl\n"), err
    rc, out, err = await run(KUBECTL, "--kubeconfig", kc, "exec", "web-0", "--", "sh", "-c", "echo bad >&2; exit 7")
    assert rc == 7 and "bad" in err
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", kc, "exec", "-i", "web-0", "--", "cat",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out_b, err_b = await asyncio.wait_for(proc.communicate(b"piped through\n"), 30)
    assert (proc.returncode, out_b) == (0, b"piped through\n"), err_b
