package voicenode

import "errors"

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("voicenode: invalid config")
