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
        - scalar content loss, a 0-d tensor:
              content_weight * sum((content_current - content_original) ** 2)
          It must stay connected to content_current by autograd (style transfer
          backpropagates through it), so use torch operations, not .item() or numpy.
        """

        ##############################################################################
        # TODO: Implement content loss function                                      #
        # Please pay attention to use torch tensor math function to finish it.       #
        # Otherwise, you may run into the issues later that dynamic graph is broken  #
        # and gradient can not be derived.                                           #
        ##############################################################################
        return torch.tensor(0.0)
        ##############################################################################
        #                             END OF YOUR CODE                               #
        ##############################################################################
