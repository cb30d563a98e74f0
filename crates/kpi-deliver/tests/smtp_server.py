"""A loopback SMTP server for kpi-deliver's tests (aiosmtpd, installed by .ci/run).

Usage: smtp_server.py PORT CERT KEY OUTDIR USER PASSWORD
Requires STARTTLS before AUTH, accepts USER/PASSWORD, refuses recipients
named nobody@... with 550, and writes each message
to OUTDIR/message.eml with the envelope in OUTDIR/envelope.txt. Prints READY
when it accepts connections and runs until killed.
"""
import ssl
import sys
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, outdir, user, password = sys.argv[1:7]
out = Path(outdir)


class Saver:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # A permanent refusal, to test that 5xx replies reach the user.
        if address.startswith("nobody@"):
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        (out / "envelope.txt").write_text(
            "MAIL FROM: %s\nRCPT TO: %s\n" % (envelope.mail_from, " ".join(envelope.rcpt_tos))
        )
        tmp = out / "message.eml.tmp"
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.rename(out / "message.eml")
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    return AuthResult(success=ok)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(
    Saver(),
    hostname="127.0.0.1",
    port=int(port),
    tls_context=context,
    require_starttls=True,
    authenticator=authenticator,
    auth_require_tls=True,
    auth_required=True,
)
controller.start()
print("READY", flush=True)
try:
    while True:
        time.sleep(1)
finally:
    controller.stop()
