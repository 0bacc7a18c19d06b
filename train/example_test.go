package train_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/runinfer/runinfer/train"
)

// One SGD step with momentum and Nesterov on a two-value parameter.
func ExampleSGD() {
	opt := &train.SGD{Momentum: 0.9, Nesterov: true}
	w := []float32{1, -1}
	// g + 0.9·g = 1.9·g on the first step: w − 0.1·1.9·g.
	if err := opt.Step([]train.Param{{Name: "w", Value: w, Grad: []float32{1, 2}}}, 0.1); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("%.2f\n", w)
	// Output: [0.81 -1.38]
}

// A cosine schedule over 10 steps with 2 steps of linear warmup.
func ExampleCosine() {
	s, err := train.NewSchedule(train.ScheduleOptions{Kind: "cosine", Rate: 0.1, Min: 0.001, Total: 10, Warmup: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	for step := range 10 {
		fmt.Printf("%.4f ", s.LR(step))
	}
	fmt.Println()
	// Output: 0.0333 0.0667 0.1000 0.0962 0.0855 0.0694 0.0505 0.0316 0.0155 0.0048
}

// Freezing: globs (* does not cross /), regular expressions, or everything
// but the classifier head.
func ExampleParseFreeze() {
	f, err := train.ParseFreeze("features.0.*,re:^layer[12]\\.")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"features.0.weight", "features.10.weight", "layer1.conv.weight", "fc.bias"} {
		fmt.Println(name, f.Matches(name))
	}
	// Output:
	// features.0.weight true
	// features.10.weight false
	// layer1.conv.weight true
	// fc.bias false
}

// Fine-tuning a pretrained classifier on photos/<class>/*.jpg, replacing
// its head, as `runinfer finetune` does.
func ExampleFinetune() {
	s := train.DefaultSettings()
	s.Epochs, s.Head, s.Freeze = 3, 4, train.AllButHead
	res, err := train.Finetune(context.Background(), train.Config{
		Settings: s, Model: "mobilenetv2.onnx", Data: "photos", Out: "photos.onnx", Log: os.Stderr,
	})
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Println("stopped; resume with", res.Checkpoint)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	last := res.History[len(res.History)-1]
	fmt.Printf("validation accuracy %.1f%%\n", 100*last.ValAccuracy)
}
