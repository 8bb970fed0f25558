/* placeholder until the runtime lands */
#include "model.h"
