package labels

// imagenet.txt is generated, not hand-edited: the recipe below downloads
// Debian's python3-torchvision package (BSD-3-Clause, copyright Soumith
// Chintala 2016 and Facebook, Inc. and its affiliates), extracts
// torchvision/models/_meta.py and writes its _IMAGENET_CATEGORIES list, one
// name per line in class-index order. It needs apt-get and dpkg-deb (any
// Debian or Ubuntu system); pass -deb FILE to use an already downloaded
// package instead of apt-get download.

//go:generate go run gen_imagenet.go -o imagenet.txt
