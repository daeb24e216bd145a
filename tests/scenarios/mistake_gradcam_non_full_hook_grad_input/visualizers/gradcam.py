import numpy as np
import torch
from PIL import Image


# The "deconvolution" is equivalent to a backward pass through the network, except that
# when propagating through a nonlinearity, its gradient is solely computed based on the
# top gradient signal, ignoring the bottom input. In case of the ReLU nonlinearity this
# amounts to setting to zero certain entries based on the top gradient. We propose to
# combine these two methods: rather than masking out values corresponding to negative
# entries of the top gradient (deconvnet) or bottom data (backpropagation), we mask
# out the values for which at least one of these values is negative.


class CustomReLU(torch.autograd.Function):
    """
    Define the custom change to the standard ReLU function necessary to perform guided backpropagation.
    We have already implemented the forward pass for you, as this is the same as a normal ReLU function.
    """

    @staticmethod
    def forward(self, x):
        output = torch.addcmul(torch.zeros_like(x), x, (x > 0).type_as(x))
        self.save_for_backward(x, output)
        return output

    @staticmethod
    def backward(self, dout):
        x, output = self.saved_tensors
        return dout * (x > 0).type_as(dout) * (dout > 0).type_as(dout)


class GradCam:
    def guided_backprop(self, X_tensor, y_tensor, gc_model):
        """
        Compute a guided backprop visualization using gc_model for images X_tensor and
        labels y_tensor.

        Input:
        - X_tensor: Input images; Tensor of shape (N, 3, H, W), requiring gradients
        - y_tensor: Labels for X; LongTensor of shape (N,)
        - gc_model: A pretrained CNN that will be used to compute the guided backprop.

        Returns:
        - guided backprop: A numpy of shape (N, H, W, 3) giving the guided backprop for
        the input images.
        """
        for param in gc_model.parameters():
            param.requires_grad = True

        for idx, module in gc_model.features._modules.items():
            if module.__class__.__name__ == "ReLU":
                gc_model.features._modules[idx] = CustomReLU.apply
            elif module.__class__.__name__ == "Fire":
                for idx_c, child in gc_model.features[int(idx)].named_children():
                    if child.__class__.__name__ == "ReLU":
                        gc_model.features[int(idx)]._modules[idx_c] = CustomReLU.apply

        scores = gc_model(X_tensor)
        scores.gather(1, y_tensor.view(-1, 1)).sum().backward()
        return X_tensor.grad.permute(0, 2, 3, 1).detach().cpu().numpy()

    def grad_cam(self, X_tensor, y_tensor, gc_model):
        """
        Input:
        - X_tensor: Input images; Tensor of shape (N, 3, H, W)
        - y_tensor: Labels for X; LongTensor of shape (N,)
        - gc_model: A pretrained CNN that will be used to compute the gradcam.
        """
        conv_module = gc_model.features[12]
        self.gradient_value = None  # Stores gradient of the module you chose above during a backwards pass.
        self.activation_value = None  # Stores the activation of the module you chose above during a forwards pass.

        def gradient_hook(module, grad_input, grad_output):
            self.gradient_value = grad_input[0]

        def activation_hook(a, b, activation):
            self.activation_value = activation

        conv_module.register_forward_hook(activation_hook)
        conv_module.register_backward_hook(gradient_hook)

        scores = gc_model(X_tensor)
        scores.gather(1, y_tensor.view(-1, 1)).sum().backward()
        weights = self.gradient_value.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * self.activation_value).sum(dim=1)).detach().cpu().numpy()

        # Rescale GradCam output to fit image.
        cam_scaled = []
        for i in range(cam.shape[0]):
            cam_scaled.append(np.array(Image.fromarray(cam[i]).resize(X_tensor[i, 0, :, :].shape, Image.BICUBIC)))
        cam = np.array(cam_scaled)
        cam -= np.min(cam)
        cam /= np.max(cam)
        return cam
