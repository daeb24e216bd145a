import torch


class SaliencyMap:
    def compute_saliency_maps(self, X, y, model):
        """
        Compute a class saliency map using the model for images X and labels y.

        Input:
        - X: Input images; Tensor of shape (N, 3, H, W)
        - y: Labels for X; LongTensor of shape (N,)
        - model: A pretrained CNN that will be used to compute the saliency map.

        Returns:
        - saliency: A Tensor of shape (N, H, W) giving the saliency maps for the input
        images.
        """
        # Make sure the model is in "test" mode
        model.eval()

        # Make input tensor require gradient
        X = X.clone().detach().requires_grad_(True)

        saliency = None
        scores = torch.flatten(model.classifier(model.features(X)), 1)
        correct = scores.gather(1, y.view(-1, 1)).squeeze(1)
        correct.sum().backward()
        saliency = X.grad.abs().max(dim=1)[0]
        return saliency
