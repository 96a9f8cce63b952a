"""The Space as an MCP server: its tools, their schema, and a call through a real MCP client."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx

from core.messages import NOT_PUBLIC

TOOLS = {"similarity", "search", "evaluate"}


def test_the_schema_lists_similarity_search_and_evaluate_as_tools(served_app):
    schema = httpx.get(f"{served_app}gradio_api/mcp/schema", timeout=30).json()
    tools = {entry["name"]: entry for entry in schema if entry["meta"]["mcp_type"] == "tool"}
    assert set(tools) == TOOLS  # the session-bound events (upload, map…) stay API-only
    similarity = tools["similarity"]
    assert similarity["description"].startswith("How similar two Spanish sentences are")
    properties = similarity["inputSchema"]["properties"]
    assert set(properties) == {"sentence_a", "sentence_b"} and properties["sentence_a"]["description"]
    assert "corpus" not in tools["search"]["inputSchema"]["properties"]  # the session's State is hidden
    assert tools["evaluate"]["inputSchema"]["properties"]["sts_file"]["description"]


async def _session(url: str, calls: list[tuple[str, dict]]):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def on_progress(progress, total, message):  # a progress token: Gradio then returns every output
        pass

    async with (
        streamable_http_client(f"{url}gradio_api/mcp/") as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        results = [
            await session.call_tool(name, arguments, progress_callback=on_progress)
            for name, arguments in calls
        ]
        return tools, results


def test_an_mcp_client_lists_the_tools_and_calls_them(served_app):
    pairs = "sentence1,sentence2,score\n" + "\n".join(
        f"Frase {i} sobre el clima,Frase {i} sobre la lluvia,{i % 6}" for i in range(12)
    )
    data_uri = "data:text/csv;base64," + base64.b64encode(pairs.encode()).decode()
    tools, (same, search, evaluation, empty) = asyncio.run(
        _session(
            served_app,
            [
                ("similarity", {"sentence_a": "Llueve en Madrid", "sentence_b": "Llueve en Madrid"}),
                ("search", {"query": "incendios forestales", "k": 3}),
                ("evaluate", {"sts_file": data_uri}),
                ("similarity", {"sentence_a": "   ", "sentence_b": "algo"}),
            ],
        )
    )
    assert tools == TOOLS
    assert not same.isError and float(same.content[0].text) == 5.0  # the 0–5 reading comes first
    assert float(same.content[1].text) > 0.999  # then the cosine
    assert not search.isError and search.content[0].text.count("'n0") == 3  # three news ids in the table
    assert not evaluation.isError and "Spearman" in evaluation.content[0].text
    assert empty.isError and "Escribe la primera frase" in empty.content[0].text


def test_mcp_landing_page_and_tool_filter(served_app):
    filtered = httpx.get(f"{served_app}gradio_api/mcp/schema?tools=search", timeout=30).json()
    assert [entry["name"] for entry in filtered] == ["search"]
    assert json.dumps(filtered)  # plain JSON a client can read


def test_an_mcp_link_to_a_private_address_is_refused_in_spanish(served_app, capfd):
    _, (loopback, metadata) = asyncio.run(
        _session(
            served_app,
            [
                ("evaluate", {"sts_file": "http://127.0.0.1:9/x.csv"}),
                ("evaluate", {"sts_file": "http://0x7f000001/"}),
            ],
        )
    )
    for result, url in ((loopback, "http://127.0.0.1:9/x.csv"), (metadata, "http://0x7f000001/")):
        assert result.isError and result.content[0].text == f"Error: {NOT_PUBLIC.format(url=url)}"
    assert "Traceback" not in capfd.readouterr().err
