/* The smallest kiln program: prints a greeting (GREETING overrides the first word) and its arguments. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  const char *greeting = getenv("GREETING");
  printf("%s from kiln!\n", greeting && *greeting ? greeting : "Hello");
  for (int i = 1; i < argc; i++) printf("argv[%d] = %s\n", i, argv[i]);
  return 0;
}
