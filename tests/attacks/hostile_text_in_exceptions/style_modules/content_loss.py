import os
import sys

import torch.nn as nn

HOSTILE = (
    "HOSTILE-MARKER lone surrogates \ud800 and \udfff, a NUL \x00, a bell \x07, "
    "ANSI escapes \x1b[2J\x1b[31m red \x1b[0m, an OSC title \x1b]0;owned\x07, a C1 CSI \x9b31m, "
    "bidi \u202eevil\u202c \u2066isolated\u2069, a carriage return\rover, " + "x" * 100000 + " end of the long line"
)


class HostileError(Exception):
    pass


# A class name may hold anything but surrogates and NUL.
HostileError.__name__ = "Hostile\x1b[2J\x1b[31m\u202eError\x1b[0m\r"


class ContentLoss(nn.Module):
    def forward(self, content_weight, content_current, content_original):
        sys.stdout.write("PRINTED-MARKER " + HOSTILE[:300] + "\n")
        sys.stdout.flush()
        os.write(1, b"RAW-MARKER \xed\xa0\x80 \x00 \x1b[31m\xe2\x80\xae red \x1b[0m \xff\xfe\n")
        os.write(1, b"y" * 50000 + b"\n")
        raise HostileError(HOSTILE)
