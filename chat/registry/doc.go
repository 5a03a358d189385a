// Package registry chooses the voice server (SFU node) a voice client is
// handed to. Registry is the interface the chat control plane depends on;
// Embedded is the single-machine implementation holding the local SFU. A
// multi-region registry (nodes announcing region, address, load and health)
// implements the same interface.
package registry
