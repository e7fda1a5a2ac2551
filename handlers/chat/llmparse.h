/* llmparse.h: placeholder. */
