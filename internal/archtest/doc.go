// Package archtest holds repository-wide tests of the house rules: every
// package has a doc comment, and the dependency fences between the layers
// hold (chat, signaling and mediaproxy never import pion; sfu never imports
// libvips or cgo; sfu never imports signaling or chat).
package archtest
