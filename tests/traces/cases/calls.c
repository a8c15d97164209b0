/* Every allocation call shape valgrind traces, and a fork: recorded into
   calls.vglog by ../record.sh. */
#include <stdlib.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
int main(){
  void *a = malloc(16);
  void *b = calloc(3, 8);
  a = realloc(a, 100);
  void *c = realloc(NULL, 40);
  void *d = memalign(64, 100);
  void *e; posix_memalign(&e, 32, 50);
  void *f = aligned_alloc(128, 256);
  void *g = valloc(10);
  void *z = malloc(0);
  void *r0 = realloc(c, 0);
  fprintf(stderr, "partial");
  free(a); free(b); free(d); free(e); free(f); free(g); free(z); free(NULL);
  pid_t p = fork();
  if (p == 0) { void *x = malloc(7); free(x); _exit(0);} 
  waitpid(p, 0, 0);
  return 0;
}
