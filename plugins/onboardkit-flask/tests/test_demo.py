"""The Flask demo (``python -m onboardkit_flask.demo``) with Flask's test client: the three demo
tenants below ``/onboarding``, the app's own home page showing Flask-Login's ``current_user``,
the reviewers ``prepare_demo`` made able to sign in to the app, and a restart on the same folder.
The flows themselves are walked in Chromium by ``tests/browser/test_flask_demo_flows.py``."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("flask_login")

from onboardkit_flask.demo import PREFIX, demo_app, demo_base_url

from onboardkit.demo import Demo, prepare_demo
from onboardkit.sqlstore import SqlStore

BASE_URL = "http://localhost" + PREFIX


def open_demo(folder: Path) -> Demo:
    return prepare_demo(folder, BASE_URL)


def close_demo(demo: Demo) -> None:
    demo.onboarding.close()
    assert isinstance(demo.onboarding.store, SqlStore)
    demo.onboarding.store.dispose()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    demo = open_demo(tmp_path)
    yield demo
    close_demo(demo)


def test_the_demo_serves_the_three_tenants_below_onboarding(demo: Demo):
    client = demo_app(demo).test_client()
    for tenant in ("pim", "collaboration", "iot"):
        assert client.get(f"{PREFIX}/{tenant}/login").status_code == 200
    assert client.get(f"{PREFIX}/mail").status_code == 200
    assert client.get(f"{PREFIX}/").status_code == 200


def test_the_app_s_home_page_shows_nobody_before_a_sign_in(demo: Demo):
    home = demo_app(demo).test_client().get("/")
    assert home.status_code == 200
    assert "Not signed in to this Flask app." in home.text
    assert f'href="{BASE_URL}/pim/login"' in home.text


def test_a_reviewer_s_sign_in_on_onboardkit_signs_them_in_to_the_app(demo: Demo):
    client = demo_app(demo).test_client()
    login = demo.logins[0]
    answer = client.post(
        f"{PREFIX}/{login.tenant}/api/login",
        json={"email": login.email, "password": login.password},
    )
    assert answer.status_code == 200, answer.text
    home = client.get("/").text
    assert f"Signed in to this Flask app as {login.email} (tenant {login.tenant})." in home


def test_the_demo_reopens_its_folder_with_the_same_logins_and_users(tmp_path: Path):
    first = open_demo(tmp_path)
    demo_app(first)
    close_demo(first)
    again = open_demo(tmp_path)
    try:
        client = demo_app(again).test_client()
        assert again.logins == first.logins
        login = again.logins[-1]
        answer = client.post(
            f"{PREFIX}/{login.tenant}/api/login",
            json={"email": login.email, "password": login.password},
        )
        assert answer.status_code == 200, answer.text
        assert login.email in client.get("/").text
    finally:
        close_demo(again)


def test_mailed_links_name_a_host_the_local_browser_reaches():
    assert demo_base_url("0.0.0.0", 5000) == "http://localhost:5000"  # noqa: S104
    assert demo_base_url("127.0.0.1", 8080) == "http://localhost:8080"
    assert demo_base_url("demo.internal", 5000) == "http://demo.internal:5000"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_demo_command_serves_the_app_and_stops_on_ctrl_c(tmp_path: Path):
    port = _free_port()
    command = [sys.executable, "-m", "onboardkit_flask.demo", "--port", str(port)]
    command += ["--folder", str(tmp_path / "demo")]
    process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        printed = []
        for line in process.stdout:  # the banner ends with the app's own address
            printed.append(line)
            if line.strip().startswith("the app"):
                break
        banner = "".join(printed)
        assert f"sent mail     http://localhost:{port}/onboarding/mail" in banner, banner
        assert "reviewer      pim: review@pim.example.com / " in banner
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as home:
                    assert "Not signed in to this Flask app." in home.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/onboarding/pim/login") as login:
            assert login.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=15)
        finally:
            process.kill()
    assert process.returncode == 0
