#include "imageio.h"
