// Package train fine-tunes and trains ONNX image classifiers with the
// backward mode of package runtime (runtime.Trainer).
//
// The pieces, usable on their own:
//
//   - Optimizers (SGD with momentum, Nesterov and coupled weight decay;
//     AdamW with bias correction and decoupled weight decay) that update
//     named float32 parameters in place, with exportable state. Their
//     update rules are PyTorch's torch.optim.SGD and torch.optim.AdamW.
//   - Learning-rate schedules as functions of the step: constant, step
//     decay, cosine annealing with optional linear warmup.
//   - An ImageFolder dataset (DIR/<class>/<image>), a stratified,
//     seeded train/validation split, and a Loader that decodes in parallel
//     and yields NCHW float32 batches: random resized crop and horizontal
//     flip for training, resize and centre crop for validation.
//   - Freezing parameters by name pattern, finding a classifier's final
//     layer and replacing it with a freshly initialised one for a new
//     number of classes (ReplaceHead).
//   - Checkpoints (model, optimizer state, position, options) in one
//     versioned file written atomically, and a terminal progress bar.
//   - Finetune, the whole loop: what `runinfer finetune` runs. Its output
//     is standard ONNX with the class names and the preprocessing in
//     metadata_props (see imageprep.FromMetadata), so classification needs
//     no flags.
package train
