// Package imageprep turns photos into the input tensors of image classifiers
// and turns classifier outputs back into ranked classes.
//
// The pipeline is the one torchvision's evaluation transforms use:
//
//  1. Decode a JPEG, PNG, GIF (first frame), BMP or WebP file (Decode,
//     DecodeFile), refusing images above a pixel limit before any pixel
//     memory is allocated.
//  2. Resize so that the shorter side is 256/224 of the model's input size
//     (256 for a 224×224 input) and cut the centre H×W (ResizeCrop). An image
//     that already has exactly the input size is taken as already prepared
//     and used as is.
//  3. Convert to the model's channel order, value range and layout (ToTensor):
//     RGB or BGR or grayscale, scaled, normalised per channel
//     ((v·Scale − Mean[c]) / Std[c]), NCHW or NHWC, float32, float16 or
//     float64.
//
// InputSpec reads the model's input declaration to find the size, channel
// count and layout; Preset gives the usual normalisations (imagenet, caffe,
// unit, raw). After the model has run, Probabilities applies a softmax unless
// the output already is a probability distribution, and TopK ranks classes.
//
// Transparency is dropped (as PIL's convert("RGB") does): the colour of a
// transparent pixel is kept and the alpha ignored.
//
// This package imports ir but never the runtime or the ONNX importer (only
// its tests read ONNX tensor files, to compare with reference inputs).
package imageprep
