#!/usr/bin/env python3
"""The Monologue kernel against jupyter_kernel_test's protocol checks, plus
what those do not cover: interrupting a long generation, mis-signed and
malformed messages, streaming before the reply.

Run from the repository root after building (scripts/test.sh does this):

    python3 kernel/tests/test_protocol.py

The kernelspec is installed into a fresh JUPYTER_PATH for the run.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
KERNEL = os.path.join(ROOT, "target", "release", "monologue-kernel")
MODEL = os.environ.get("MONOLOGUE_MODEL", os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))

JUPYTER_PATH = tempfile.mkdtemp(prefix="monologue-jupyter-")
os.environ["JUPYTER_PATH"] = JUPYTER_PATH
subprocess.run([KERNEL, "install"], check=True, capture_output=True)

import jupyter_kernel_test  # noqa: E402
from jupyter_client.manager import start_new_kernel  # noqa: E402
from jupyter_client.session import Session  # noqa: E402


class MonologueKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "monologue"
    language_name = "rhai"
    file_extension = ".rhai"
    code_hello_world = 'print("hello, world")'
    code_stderr = 'debug("to stderr")'
    code_generate_error = "no_such_variable + 1"
    completion_samples = [
        {"text": "load_mod", "matches": {"load_model"}},
        {"text": "let t = tensor([1.0]); t.transp", "matches": {"transpose"}},
    ]
    complete_code_samples = ["1 + 1", "let x = 2;", "fn f(a) { a * 2 }"]
    incomplete_code_samples = ["let x = [1, 2,", "fn f() {", "if true {"]
    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "tensor([1.0, 2.0]).sum()", "result": "3.0"},
    ]
    code_display_data = [
        {"code": 'display(plot_bar(["a", "b"], [1.0, 2.0]))', "mime": "image/svg+xml"},
        {"code": 'display(plot_line([1, 2, 3], [1.0, 3.0, 2.0]))', "mime": "image/png"},
    ]
    code_clear_output = "clear_output()"
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6 *"
    code_inspect_sample = "load_model"


def execute(kc, code, timeout=60):
    """Run a cell; return (reply content, iopub messages until idle)."""
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    messages = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(m)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return reply["content"], messages


class KernelBehaviour(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="monologue")

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel()

    def test_generation_streams_before_the_reply(self):
        execute(self.kc, f"let m = load_model({json.dumps(MODEL)});", timeout=120)
        reply, messages = execute(self.kc, 'm.generate("Once upon a time", #{ max_tokens: 24, temperature: 0.0 })')
        self.assertEqual(reply["status"], "ok")
        streams = [m for m in messages if m["msg_type"] == "stream"]
        self.assertGreater(len(streams), 3, "tokens arrive as separate stream messages")
        # The streamed string is not echoed again as a result.
        self.assertFalse(any(m["msg_type"] == "execute_result" for m in messages))

    def test_interrupt_stops_a_long_generation_and_keeps_variables(self):
        execute(self.kc, f"let m = load_model({json.dumps(MODEL)}); let kept = 41;", timeout=120)
        msg_id = self.kc.execute('m.generate("Tell me a long story.", #{ max_tokens: 100000 })')
        # Wait until tokens flow, then interrupt on the control channel.
        while True:
            m = self.kc.get_iopub_msg(timeout=60)
            if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream":
                break
        start = time.time()
        self.km.interrupt_kernel()
        reply = self.kc.get_shell_msg(timeout=30)
        self.assertLess(time.time() - start, 10)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        reply, _ = execute(self.kc, "kept + 1")
        self.assertEqual(reply["status"], "ok")
        _, messages = execute(self.kc, "kept + 1")
        results = [m for m in messages if m["msg_type"] == "execute_result"]
        self.assertEqual(results[0]["content"]["data"]["text/plain"], "42")

    def test_reasoning_folds_into_a_details_section(self):
        execute(self.kc, f"let m = load_model({json.dumps(MODEL)});", timeout=120)
        reply, messages = execute(self.kc, 'm.generate("What is 2 + 2?", #{ chat: true, think: true, think_budget: 6, max_tokens: 4, temperature: 0.0 })')
        self.assertEqual(reply["status"], "ok")
        shown = [m for m in messages if m["msg_type"] == "display_data"]
        updates = [m for m in messages if m["msg_type"] == "update_display_data"]
        self.assertEqual(len(shown), 1, "one reasoning display per cell")
        self.assertIn("<details open>", shown[0]["content"]["data"]["text/html"])
        display_id = shown[0]["content"]["transient"]["display_id"]
        self.assertGreater(len(updates), 1, "the reasoning grows in place as it streams")
        self.assertTrue(all(u["content"]["transient"]["display_id"] == display_id for u in updates))
        final = updates[-1]["content"]["data"]["text/html"]
        self.assertIn("<details>", final, "folded once the answer starts")
        self.assertIn("Reasoning", final)

    def test_training_redraws_its_loss_chart_in_place(self):
        code = (
            'let text = ""; for i in 0..10 { text += "the cat sat on the mat. "; }\n'
            'let r = train(#{ text: text, steps: 6, layers: 1, width: 16, heads: 2, seq: 16, batch: 2, eval_every: 0 });\n'
            'r.live(6, 2)'
        )
        reply, messages = execute(self.kc, code, timeout=120)
        self.assertEqual(reply["status"], "ok")
        shown = [m for m in messages if m["msg_type"] == "display_data"]
        updates = [m for m in messages if m["msg_type"] == "update_display_data"]
        self.assertEqual(len(shown), 1, "the chart is displayed once")
        self.assertEqual(len(updates), 2, "then redrawn at steps 4 and 6")
        display_id = shown[0]["content"]["transient"]["display_id"]
        self.assertTrue(all(u["content"]["transient"]["display_id"] == display_id for u in updates))
        self.assertIn("image/svg+xml", updates[-1]["content"]["data"])

    def test_profile_tables_render_as_html_with_bars(self):
        execute(self.kc, f"let m = load_model({json.dumps(MODEL)});", timeout=120)
        _, messages = execute(self.kc, 'profile(|| m.logits("Hello"))')
        result = [m for m in messages if m["msg_type"] == "execute_result"][0]
        html = result["content"]["data"]["text/html"]
        self.assertIn("matvec", html)
        self.assertIn("<div style", html)

    def test_token_boundaries_render_as_spans(self):
        execute(self.kc, f"let m = load_model({json.dumps(MODEL)});", timeout=120)
        _, messages = execute(self.kc, 'm.show_tokens("Hello, <b>world</b>")')
        data = [m for m in messages if m["msg_type"] == "execute_result"][0]["content"]["data"]
        self.assertGreaterEqual(data["text/html"].count("<span"), 5)
        self.assertIn("&lt;/", data["text/html"], "token text is escaped")
        self.assertNotIn("<b>", data["text/html"])
        self.assertIn("tokens:", data["text/plain"])

    def test_input_asks_the_front_end_on_the_stdin_channel(self):
        msg_id = self.kc.execute('let who = input("Name? "); "hello " + who', allow_stdin=True)
        request = self.kc.get_stdin_msg(timeout=30)
        self.assertEqual(request["msg_type"], "input_request")
        self.assertEqual(request["parent_header"]["msg_id"], msg_id)
        self.assertEqual(request["content"]["prompt"], "Name? ")
        self.kc.input("Ada")
        reply = self.kc.get_shell_msg(timeout=30)
        self.assertEqual(reply["content"]["status"], "ok")
        _, messages = execute(self.kc, "who")
        results = [m for m in messages if m["msg_type"] == "execute_result"]
        self.assertEqual(results[0]["content"]["data"]["text/plain"], "Ada")

    def test_input_without_stdin_is_a_clear_error(self):
        msg_id = self.kc.execute('input("Name? ")', allow_stdin=False)
        reply = self.kc.get_shell_msg(timeout=30)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertEqual(reply["content"]["status"], "error")
        self.assertIn("allow_stdin", reply["content"]["evalue"])

    def test_interrupt_while_waiting_for_input(self):
        execute(self.kc, "let before = 7;")
        msg_id = self.kc.execute('let x = input("Waiting: ");', allow_stdin=True)
        self.kc.get_stdin_msg(timeout=30)
        self.km.interrupt_kernel()
        reply = self.kc.get_shell_msg(timeout=30)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertEqual(reply["content"]["status"], "error")
        self.assertIn("interrupted", reply["content"]["evalue"])
        _, messages = execute(self.kc, "before * 6")
        results = [m for m in messages if m["msg_type"] == "execute_result"]
        self.assertEqual(results[0]["content"]["data"]["text/plain"], "42")

    def test_a_comm_to_an_unknown_target_is_closed(self):
        comm_id = "c0ffee"
        msg = self.kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": "jupyter.widget", "data": {}})
        self.kc.shell_channel.send(msg)
        deadline = time.time() + 30
        while time.time() < deadline:
            m = self.kc.get_iopub_msg(timeout=30)
            if m["msg_type"] == "comm_close":
                self.assertEqual(m["content"]["comm_id"], comm_id)
                break
        else:
            self.fail("no comm_close for a comm nobody can serve")
        reply, _ = execute(self.kc, "1 + 2")
        self.assertEqual(reply["status"], "ok")

    def test_the_kernelspec_carries_logos(self):
        from jupyter_client.kernelspec import KernelSpecManager
        spec = KernelSpecManager().get_kernel_spec("monologue")
        self.assertEqual(spec.display_name, "Monologue (rhai)")
        for size in (32, 64):
            with open(os.path.join(spec.resource_dir, f"logo-{size}x{size}.png"), "rb") as f:
                png = f.read()
            self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
            width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
            self.assertEqual((width, height), (size, size))

    def test_errors_name_the_line_and_the_kernel_goes_on(self):
        reply, messages = execute(self.kc, "let a = 1;\nlet b = a +;")
        self.assertEqual(reply["status"], "error")
        errors = [m for m in messages if m["msg_type"] == "error"]
        self.assertIn("line 2", errors[0]["content"]["evalue"])
        reply, _ = execute(self.kc, "1 + 1")
        self.assertEqual(reply["status"], "ok")

    def test_a_mis_signed_message_is_ignored(self):
        bad = Session(key=b"not-the-key", username="intruder")
        msg = bad.msg("execute_request", {"code": "let pwned = 1;", "silent": False,
                                          "store_history": True, "user_expressions": {},
                                          "allow_stdin": False, "stop_on_error": True})
        bad.send(self.kc.shell_channel.socket, msg)
        time.sleep(0.5)
        reply, messages = execute(self.kc, "pwned")
        self.assertEqual(reply["status"], "error", "the mis-signed cell must not have run")

    def test_malformed_messages_do_not_crash_the_kernel(self):
        socket = self.kc.shell_channel.socket
        socket.send_multipart([b"<IDS|MSG>", b"", b"not json", b"{}", b"{}", b"{}"])
        socket.send_multipart([b"garbage"])
        time.sleep(0.5)
        self.assertTrue(self.km.is_alive())
        reply, _ = execute(self.kc, "2 + 2")
        self.assertEqual(reply["status"], "ok")


if __name__ == "__main__":
    unittest.main(verbosity=2)
