"""The load generator's HTTP client against real servers: uvicorn (keep-alive, chunked
bodies, its keep-alive timeout) and raw asyncio servers writing exact answer bytes."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from loadtests.http_client import (
    ConnectFailed,
    ConnectionLost,
    HttpClient,
    MalformedResponse,
    RequestTimedOut,
    query_string,
)
from tests.loadtests.conftest import answer, asgi_server, raw_server, read_request


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """`/chunked`: a body in three parts (uvicorn sends it chunked); `/slow`: answers after
    0.1 s; anything else: the request as JSON, with the client's port."""
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/chunked":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(0.1)
    data = orjson.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "body": body.decode(),
            "port": scope["client"][1],
        }
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def test_sequential_requests_reuse_one_kept_alive_connection() -> None:
    async with asgi_server(echo_app) as url, HttpClient(url) as client:
        answers = [await client.get(f"/n/{i}") for i in range(10)]
    assert [a.status for a in answers] == [200] * 10
    assert [a.json()["path"] for a in answers] == [f"/n/{i}" for i in range(10)]
    assert len({a.json()["port"] for a in answers}) == 1
    assert client.opened == 1


async def test_concurrent_requests_share_a_fixed_pool_of_connections() -> None:
    async with asgi_server(echo_app) as url, HttpClient(url, connections=4) as client:
        answers = await asyncio.gather(*(client.get("/slow") for _ in range(40)))
    assert all(a.is_success for a in answers)
    assert len({a.json()["port"] for a in answers}) == 4
    assert client.opened == 4


async def test_the_request_line_headers_and_body_reach_the_server() -> None:
    defaults = {"User-Agent": "", "x-default": "1", "authorization": "replaced"}
    async with (
        asgi_server(echo_app) as url,
        HttpClient(url + "/base/", headers=defaults) as client,
    ):
        response = await client.request(
            "POST",
            "/echo?x=1",
            params={"a b": "c&d/é", "ok": "v"},
            body=b'{"events": []}',
            headers={"Authorization": "Bearer t", "content-type": "application/json"},
        )
        empty = await client.request("POST", "/echo")
    seen = response.json()
    assert (seen["method"], seen["path"]) == ("POST", "/base/echo")
    assert seen["query"] == "x=1&a+b=c%26d%2F%C3%A9&ok=v"
    assert seen["body"] == '{"events": []}'
    assert seen["headers"]["authorization"] == "Bearer t"
    assert seen["headers"]["user-agent"] == ""
    assert seen["headers"]["x-default"] == "1"
    assert seen["headers"]["content-length"] == "14"
    assert response.headers["content-type"] == "application/json"
    assert empty.json()["headers"]["content-length"] == "0"


async def test_a_chunked_body_is_read_whole_and_the_connection_kept() -> None:
    async with asgi_server(echo_app) as url, HttpClient(url) as client:
        chunked = await client.get("/chunked")
        after = await client.get("/after")
    assert chunked.headers["transfer-encoding"] == "chunked"
    assert chunked.body == b"one,two,three"
    assert after.json()["path"] == "/after"
    assert client.opened == 1


async def test_chunk_extensions_and_trailers_are_read_past() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
            b"4;name=value\r\nWiki\r\n5\r\npedia\r\n0\r\nx-trailer: y\r\n\r\n"
        )
        await read_request(reader)
        writer.write(answer(201, b"next"))
        await read_request(reader)

    async with raw_server(handler) as url, HttpClient(url) as client:
        first = await client.get("/")
        second = await client.get("/")
    assert first.body == b"Wikipedia"
    assert first.headers["x-a"] == "1, 2"
    assert (second.status, second.text) == (201, "next")
    assert client.opened == 1


async def test_an_answer_with_connection_close_is_followed_by_a_new_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(200, b"bye", "Connection: close"))
        await writer.drain()

    async with raw_server(handler) as url, HttpClient(url) as client:
        answers = [await client.get("/") for _ in range(3)]
    assert [a.body for a in answers] == [b"bye"] * 3
    assert (client.opened, client.retried) == (3, 0)


async def test_a_body_without_length_is_read_until_the_server_closes() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello, ")
        await writer.drain()
        writer.write(b"world")

    async with raw_server(handler) as url, HttpClient(url) as client:
        answers = [await client.get("/") for _ in range(2)]
    assert [a.text for a in answers] == ["hello, world"] * 2
    assert client.opened == 2


async def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    # uvicorn closes connections idle for 1 s; the client would keep them 10 s
    async with asgi_server(echo_app, keep_alive_s=1) as url, HttpClient(url, idle_s=10) as client:
        before = await client.get("/")
        await asyncio.sleep(1.6)
        after = await client.get("/")
    assert before.json()["port"] != after.json()["port"]
    assert (client.opened, client.retried) == (2, 0)


async def test_idle_connections_expire_before_the_server_keep_alive_timeout() -> None:
    async with asgi_server(echo_app) as url, HttpClient(url, idle_s=0.1) as client:
        before = await client.get("/")
        await asyncio.sleep(0.2)
        after = await client.get("/")
    assert before.json()["port"] != after.json()["port"]
    assert client.opened == 2


async def test_a_reused_connection_closed_as_the_request_arrives_is_retried_once() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(answer(200, b"first" if connections == 1 else b"again"))
        await writer.drain()
        if connections == 1:
            await read_request(reader)  # the second request: closed unanswered
            return
        await read_request(reader)

    async with raw_server(handler) as url, HttpClient(url, idle_s=10) as client:
        first = await client.request("POST", "/", body=b"1")
        second = await client.request("POST", "/", body=b"2")
    assert (first.body, second.body) == (b"first", b"again")
    assert (client.opened, client.retried) == (2, 1)


async def test_a_new_connection_closed_without_an_answer_is_an_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(handler) as url, HttpClient(url) as client:
        with pytest.raises(ConnectionLost):
            await client.get("/")
    assert client.retried == 0


async def test_an_answer_cut_short_is_an_error_and_its_connection_dropped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(200, b"whole"))
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")

    async with raw_server(handler) as url, HttpClient(url) as client:
        assert (await client.get("/")).body == b"whole"
        with pytest.raises(ConnectionLost):
            await client.get("/")
        assert (await client.get("/")).body == b"whole"
    assert (client.opened, client.retried) == (2, 0)


async def test_a_request_without_an_answer_in_time_times_out() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        mine = connections
        while await read_request(reader) is not None:
            if mine > 1:
                writer.write(answer(200, b"late"))

    async with raw_server(handler) as url, HttpClient(url, timeout_s=0.2) as client:
        with pytest.raises(RequestTimedOut):
            await client.get("/")
        assert (await client.get("/")).body == b"late"  # not on the timed-out connection
    assert client.opened == 2


async def test_nothing_listening_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with HttpClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ConnectFailed):
            await client.get("/")


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
)
async def test_a_malformed_answer_is_an_error(raw: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(raw)
        await read_request(reader)

    async with raw_server(handler) as url, HttpClient(url) as client:
        with pytest.raises(MalformedResponse):
            await client.get("/")


async def test_interim_answers_are_skipped_and_204_has_no_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
        await read_request(reader)
        writer.write(answer(404, b'{"detail": "nope"}'))
        await read_request(reader)

    async with raw_server(handler) as url, HttpClient(url) as client:
        empty = await client.request("DELETE", "/")
        missing = await client.get("/")
    assert (empty.status, empty.body, empty.is_success) == (204, b"", True)
    assert (missing.status, missing.is_success, missing.json()) == (404, False, {"detail": "nope"})
    assert client.opened == 1


@pytest.mark.parametrize(
    "params",
    [
        {"token": "abc-DEF_1.2~3", "idfa": "0f1e-2d3c"},
        {"event_time": "2026-11-23 10:00:00.000", "x": "a+b&c=d/é", "": "", "k y": "v"},
    ],
)
def test_the_query_string_is_what_urlencode_makes(params: dict[str, str]) -> None:
    assert query_string(params) == urlencode(params)


def test_only_plain_http_urls_are_taken() -> None:
    with pytest.raises(ValueError, match="plain http"):
        HttpClient("https://127.0.0.1:8443")
