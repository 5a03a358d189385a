// Package chat is the lean chat server shaped like Discord's bot API (REST
// and gateway v10) and the voice control plane.
package chat
