"""A donor known by phone signs in with a one-time code, asks for a "hearts ≥ N" credential for
a partner and shows it as a QR link; the partner's page verifies it in the browser. The public
log's check entry names neither the member nor the answer."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from tests.e2e.conftest import Server, artifacts_dir

pytestmark = pytest.mark.slow
pytest.importorskip("tokens.signin")

CONTACT = "+8613900000001"  # tokens/demo.py DEMO_CONTACT
VECTORS = Path(__file__).parents[1] / "vectors" / "vc-di-eddsa"


def code_for(server: Server, contact: str) -> str:
    lines = (server.data_dir / "codes.txt").read_text().splitlines()
    return [line.split()[1] for line in lines if line.split()[0] == contact][-1]


async def new_page(browser: Any, server: Server, errors: list[str]) -> Any:
    context = await browser.new_context(viewport={"width": 360, "height": 780},
                                        base_url=server.url)
    page = await context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(15_000)
    return page


async def verdict(page: Any) -> tuple[str, str]:
    await page.wait_for_function(
        "() => ['true', 'false'].includes(document.getElementById('pv-result')?.dataset.valid)")
    result = page.locator("#pv-result")
    return await result.get_attribute("data-valid"), await result.inner_text()


async def test_member_presents_a_credential_the_partner_verifies(browser: Any,
                                                                 server: Server) -> None:
    errors: list[str] = []
    member = await new_page(browser, server, errors)
    partner = await new_page(browser, server, errors)
    try:
        # 1. Sign in with the one-time code from the test sender.
        await member.goto("/me?lang=en")
        await member.get_by_label("Phone or e-mail").fill("139 0000 0001")
        await member.get_by_role("button", name="Send me a code").click()
        await member.get_by_label("Code").fill(code_for(server, CONTACT))
        await member.get_by_role("button", name="Sign in").click()
        await member.locator("#sign-out").wait_for()
        address = await member.locator("[data-address]").first.inner_text()
        cookie = next(c for c in await member.context.cookies() if c["name"] == "hc_member")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert await member.evaluate("document.cookie.includes('hc_member')") is False

        # 2. A credential for Cycle Share: hearts ≥ 200,000, shown as a QR code and a link.
        await member.get_by_label("Partner", exact=True).select_option(label="Cycle Share 单车共享")
        await member.get_by_label("Hearts at least").fill("200000")
        await member.get_by_role("button", name="Make the credential").click()
        await member.locator("#cred-qr svg").wait_for()
        await member.screenshot(path=str(artifacts_dir() / "member-credential.png"),
                                full_page=True)
        link = await member.locator("#cred-link").get_attribute("href")
        credential = json.loads(await member.locator("#cred-json").input_value())
        assert credential["credentialSubject"]["heartScore"]["meetsThreshold"] is True
        assert address not in json.dumps(credential)

        # 3. The partner opens the link (what the QR code holds): verified in their browser.
        await partner.goto(link.replace(server.url, ""))
        valid, text = await verdict(partner)
        assert valid == "true", text
        assert "hearts ≥ 200000" in text
        await partner.screenshot(path=str(artifacts_dir() / "partner-verify.png"),
                                 full_page=True)
        # A one-character edit, pasted: refused.
        edited = json.dumps(credential).replace('"threshold": 200000', '"threshold": 200001')
        await partner.locator("#pv-credential").fill(edited)  # the link's page is in Chinese
        await partner.locator("#pv-form button[type=submit]").click()
        await partner.wait_for_function(
            "() => document.getElementById('pv-result').textContent.includes('signature')")
        assert (await verdict(partner))[0] == "false"

        # 4. The public log: the check is there, signed by a handle, naming no member.
        data = server.gql('{ entries(kind: "consent.check", first: 50) { edges { node { '
                          'index data signers } } } }')
        checks = [e["node"] for e in data["entries"]["edges"]]
        assert checks and not [c["index"] for c in checks if address in c["data"]]
        assert not [c for c in checks if address in c["signers"]]
        await member.goto("/me?lang=en")
        assert "presented by me" in await member.locator("#checks").inner_text()
    finally:
        await member.context.close()
        await partner.context.close()
    assert not errors, errors


async def test_browser_jcs_and_verifier_match_the_w3c_vectors(browser: Any,
                                                              server: Server) -> None:
    errors: list[str] = []
    page = await new_page(browser, server, errors)
    try:
        await page.goto("/partner/verify?lang=en")
        samples: list[Any] = [
            json.loads((VECTORS / "unsigned.json").read_text()),
            json.loads((VECTORS / "eddsa-jcs-2022" / "proofConfigJCS.json").read_text()),
            {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6,
             "\u00f6": 7, "n": [1e21, 0.000001, -0.0, 333333333.33333329, 4.50, 2e-3, 1e-7],
             "s": "\u0000\u001f\"\\/\u2028 ünï", "t": [True, False, None, {}, []]},
        ]
        canonical = await page.evaluate(
            """async (samples) => {
                 const src = document.querySelector('script[src*="partner.js"]').src;
                 const jcs = await import(src.replace('partner.js', 'jcs.js'));
                 return samples.map((s) => jcs.canonicalize(s));
               }""", samples)
        assert canonical == [rfc8785.dumps(s).decode() for s in samples]
        assert canonical[0] == (VECTORS / "eddsa-jcs-2022" / "canonDocJCS.txt").read_text().strip()
        signed = json.loads((VECTORS / "eddsa-jcs-2022" / "signedJCS.json").read_text())
        key = json.loads((VECTORS / "keyPair.json").read_text())["publicKeyMultibase"]
        tampered = {**signed, "name": "Alumni Credential!"}
        results = await page.evaluate(
            """async ([signed, tampered, key]) => {
                 const src = document.querySelector('script[src*="partner.js"]').src;
                 const p = await import(src);
                 const pub = p.publicKeyFromDidKey(key);
                 const ok = await p.verifyDataIntegrity(signed, pub);
                 let refused = null;
                 try { await p.verifyDataIntegrity(tampered, pub); }
                 catch (e) { refused = e.message; }
                 return [ok.name, refused];
               }""", [signed, tampered, key])
        assert results[0] == "Alumni Credential"
        assert "signature" in results[1]
    finally:
        await page.context.close()
    assert not errors, errors


def test_the_demo_prints_a_verify_command_that_verifies(server: Server) -> None:
    line = next(line for line in server.demo_output.splitlines()
                if "heartchain attest verify" in line)
    command = shlex.split(line[line.index("heartchain attest verify"):])
    assert "--key" in command and command[command.index("--key") + 1].startswith("did:key:z6Mk")
    done = subprocess.run([sys.executable, "-m", "heartchain.cli", *command[1:]],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HEARTCHAIN_DATA_DIR": "/nonexistent"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("valid: hearts ≥ 200000")
