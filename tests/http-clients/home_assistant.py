"""Home Assistant's MJPEG IP Camera integration (the real one, homeassistant from PyPI) against
campub --http with Basic auth, in-process: HA's own bootstrap with only its http component bound
to 127.0.0.1, then the integration's config flow as the UI runs it (it opens the URLs with the
credentials: a wrong password must come back as invalid_auth), then each camera's picture: one
from /snapshot.jpg, one taken out of /stream (no still image URL). Each picture must be a 640x360
JPEG (checked with ffprobe). Nothing reaches beyond 127.0.0.1; pip is off (skip_pip).

    python home_assistant.py BASE_URL USER PASSWORD OUT_DIR   # tests/http-clients/home-assistant.sh
"""
import asyncio
import json
import socket
import subprocess
import sys
import tempfile

from homeassistant import bootstrap, loader
from homeassistant.components.camera import async_get_image
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component


def size(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "json", path],
        capture_output=True, text=True, check=True).stdout
    stream = json.loads(out)["streams"][0]
    return stream["width"], stream["height"]


async def main(base, user, password, out_dir):
    failures = []
    with tempfile.TemporaryDirectory() as config_dir:
        hass = HomeAssistant(config_dir)
        hass.config.skip_pip = True
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        loader.async_setup(hass)
        config = {"http": {"server_host": ["127.0.0.1"], "server_port": port}}
        assert await bootstrap.async_from_config_dict(config, hass), "HA did not start"
        assert await async_setup_component(hass, "mjpeg", config), "no mjpeg integration"
        await hass.async_start()

        async def flow(name, still, pw):
            started = await hass.config_entries.flow.async_init("mjpeg", context={"source": "user"})
            # One entry per MJPEG URL: the second camera's differs by a query campub ignores.
            data = {"name": name, "mjpeg_url": f"{base}/stream" + ("" if still else f"?ha={name}"),
                    "username": user, "password": pw, "verify_ssl": True}
            if still:
                data["still_image_url"] = f"{base}/snapshot.jpg"
            return await hass.config_entries.flow.async_configure(started["flow_id"], data)

        wrong = await flow("wrong", False, "not-" + password)
        print(f"wrong password: {wrong.get('errors')}")
        if wrong.get("errors") != {"username": "invalid_auth"}:
            failures.append(f"a wrong password gave {wrong}")
        for name, still in (("snapshot", True), ("from_stream", False)):
            result = await flow(name, still, password)
            print(f"{name}: config flow {result['type']}")
            if result["type"] != "create_entry":
                failures.append(f"{name}: {result}")
        await hass.async_block_till_done()
        for name in ("snapshot", "from_stream"):
            try:
                image = await async_get_image(hass, f"camera.{name}")
            except Exception as e:  # noqa: BLE001 - reported as a failure
                failures.append(f"camera.{name}: {e}")
                continue
            path = f"{out_dir}/ha-{name}.jpg"
            with open(path, "wb") as f:
                f.write(image.content)
            got = size(path)
            print(f"camera.{name}: {image.content_type}, {len(image.content)} bytes, {got[0]}x{got[1]} -> {path}")
            if image.content_type != "image/jpeg" or got != (640, 360):
                failures.append(f"camera.{name}: {image.content_type} {got}")
        await hass.async_stop()
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


sys.exit(asyncio.run(main(*sys.argv[1:5])))
