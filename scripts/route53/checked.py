"""Runs a tool built on botocore (`aws` or `octodns-sync`) with every response it receives
checked against botocore's service model (model_check.py):

  python scripts/route53/checked.py aws route53 list-hosted-zones --endpoint-url ...
  python scripts/route53/checked.py octodns-sync --config-file octodns.yaml

What was checked is appended to the file $TURNOUT_MODEL_SEEN names, one line per operation
(or operation and error code).
"""

import atexit
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_check  # noqa: E402


def record():
    path = os.environ.get("TURNOUT_MODEL_SEEN")
    if path:
        with open(path, "a") as f:
            f.writelines(f"{line}\n" for line in sorted(model_check.seen))


model_check.install()
atexit.register(record)
tool, args = sys.argv[1], sys.argv[2:]
sys.argv = [tool, *args]
if tool == "aws":
    from awscli.clidriver import main
elif tool == "octodns-sync":
    from octodns.cmds.sync import main
else:
    sys.exit(f"checked.py: {tool!r} is not aws or octodns-sync")
code = main()
sys.exit(code)
