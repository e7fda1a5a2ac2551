/* config.c: placeholder. */
#include "config.h"
int chat_placeholder_config;
