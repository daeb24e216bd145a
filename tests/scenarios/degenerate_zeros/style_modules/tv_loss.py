import torch
import torch.nn as nn


class TotalVariationLoss(nn.Module):
    def forward(self, img, tv_weight):
        """
        Compute total variation loss.

        Inputs:
        - img: PyTorch Tensor of shape (1, 3, H, W) holding an input image.
        - tv_weight: Scalar giving the weight w_t to use for the TV loss.

        Returns:
        - loss: PyTorch Tensor holding a scalar giving the total variation loss
          for img weighted by tv_weight:
              tv_weight * (sum over all channels, rows and columns of
                             (img[..., i + 1, j] - img[..., i, j]) ** 2     (vertical neighbours)
                           + (img[..., i, j + 1] - img[..., i, j]) ** 2)    (horizontal neighbours)
          An image one pixel high (or wide) has no vertical (or horizontal) neighbours.
        """

        ##############################################################################
        # TODO: Implement total varation loss function                               #
        # Please pay attention to use torch tensor math function to finish it.       #
        # Otherwise, you may run into the issues later that dynamic graph is broken  #
        # and gradient can not be derived.                                           #
        ##############################################################################
        return torch.tensor(0.0)
        ##############################################################################
        #                             END OF YOUR CODE                               #
        ##############################################################################
