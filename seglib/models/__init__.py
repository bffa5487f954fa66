"""Segmentation models, one module per family (DESIGN.md), shared blocks in ``blocks``:

- ``patch``: Ciresan-style patch classifier, sliding window, ``convolutionalize`` (notebooks 03, 04)
- ``fcn``: FCN-32s/16s/8s on a small VGG-style backbone (notebook 04)
- ``autoencoder``, ``segnet``, ``unet``, ``resnet_unet``: encoder-decoders (notebook 05)
- ``deeplab``, ``psp``, ``crfrnn``: atrous networks, ASPP, pyramid pooling, CRF-as-RNN (notebook 06)
- ``maskrcnn``, ``panoptic``: a small Mask R-CNN and UPSNet-style panoptic fusion (notebook 07)
- ``small``: the small dilated network of the loss comparison (notebook 08)

Import the family you need, e.g. ``from seglib.models.unet import UNet``.
"""
