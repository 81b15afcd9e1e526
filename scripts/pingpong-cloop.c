// A third side for scripts/pingpong.py: the same rows as plain OpenMP loops over malloc'd arrays
// (normal stores, the output reused call after call), speaking pingpong-worker.js's protocol. It
// shows what the machine gives a loop with no framework around it, in the same turns as selfsup
// and torch (docs/tensor-core.md, "Measured in turns"). Not part of the package build:
//   gcc -O3 -mavx2 -mfma -fopenmp scripts/pingpong-cloop.c -o /tmp/cloop
//   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 scripts/pingpong.py \
//     --rows 'add;mul;bias;sum;sum(-1)' --exe cloop=/tmp/cloop
// Rows: add, mul (x 1.5), bias (a [384] row), sum, sum(-1), sumblk (sum with row_sum's float32
// blocks of 1024 flushed into double, to compare the two structures).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>
static volatile double sink;
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
int main(){
  size_t n=64*196*384;
  float*x=malloc(n*4),*y=malloc(n*4),*o=malloc(n*4),*b=malloc(384*4);
  for(size_t i=0;i<n;i++){x[i]=(float)rand()/RAND_MAX;y[i]=(float)rand()/RAND_MAX;o[i]=0;}
  for(int i=0;i<384;i++)b[i]=1;
  printf("{\"ready\":[\"add\",\"mul\",\"bias\",\"sum\",\"sum(-1)\"]}\n");fflush(stdout);
  char line[256],name[64],mode[16];int reps;
  while(fgets(line,256,stdin)){
    if(sscanf(line,"%63s %d %15s",name,&reps,mode)<2) break;
    printf("[");
    for(int r=0;r<reps;r++){double t0=now();
      if(!strcmp(name,"add")){
        #pragma omp parallel for schedule(static)
        for(size_t i=0;i<n;i++) o[i]=x[i]+y[i];
      } else if(!strcmp(name,"mul")){
        #pragma omp parallel for schedule(static)
        for(size_t i=0;i<n;i++) o[i]=x[i]*1.5f;
      } else if(!strcmp(name,"sum")){
        double tot=0;
        #pragma omp parallel reduction(+:tot)
        { __m256 a0=_mm256_setzero_ps(),a1=a0,a2=a0,a3=a0;
          #pragma omp for schedule(static)
          for(size_t i=0;i<n;i+=32){a0=_mm256_add_ps(a0,_mm256_loadu_ps(x+i));a1=_mm256_add_ps(a1,_mm256_loadu_ps(x+i+8));a2=_mm256_add_ps(a2,_mm256_loadu_ps(x+i+16));a3=_mm256_add_ps(a3,_mm256_loadu_ps(x+i+24));}
          float t[8]; _mm256_storeu_ps(t,_mm256_add_ps(_mm256_add_ps(a0,a1),_mm256_add_ps(a2,a3))); for(int k=0;k<8;k++) tot+=t[k]; }
        sink+=tot;
      } else if(!strcmp(name,"sumblk")){
        double tot=0;
        #pragma omp parallel reduction(+:tot)
        { __m256d d0=_mm256_setzero_pd(),d1=d0;
          #pragma omp for schedule(static)
          for(size_t c=0;c<n;c+=1024){ __m256 a0=_mm256_setzero_ps(),a1=a0,a2=a0,a3=a0;
            for(size_t i=c;i<c+1024;i+=32){a0=_mm256_add_ps(a0,_mm256_loadu_ps(x+i));a1=_mm256_add_ps(a1,_mm256_loadu_ps(x+i+8));a2=_mm256_add_ps(a2,_mm256_loadu_ps(x+i+16));a3=_mm256_add_ps(a3,_mm256_loadu_ps(x+i+24));}
            __m256 t=_mm256_add_ps(_mm256_add_ps(a0,a1),_mm256_add_ps(a2,a3));
            d0=_mm256_add_pd(d0,_mm256_cvtps_pd(_mm256_castps256_ps128(t))); d1=_mm256_add_pd(d1,_mm256_cvtps_pd(_mm256_extractf128_ps(t,1)));}
          double t4[4]; _mm256_storeu_pd(t4,_mm256_add_pd(d0,d1)); tot+=t4[0]+t4[1]+t4[2]+t4[3]; }
        sink+=tot;
      } else if(!strcmp(name,"sum(-1)")){
        #pragma omp parallel for schedule(static)
        for(size_t i=0;i<n/384;i++){ __m256 a0=_mm256_setzero_ps(),a1=a0,a2=a0,a3=a0; const float*r=x+i*384;
          for(int j=0;j<384;j+=32){a0=_mm256_add_ps(a0,_mm256_loadu_ps(r+j));a1=_mm256_add_ps(a1,_mm256_loadu_ps(r+j+8));a2=_mm256_add_ps(a2,_mm256_loadu_ps(r+j+16));a3=_mm256_add_ps(a3,_mm256_loadu_ps(r+j+24));}
          float t[8]; _mm256_storeu_ps(t,_mm256_add_ps(_mm256_add_ps(a0,a1),_mm256_add_ps(a2,a3))); float s=0; for(int k=0;k<8;k++) s+=t[k]; o[i]=s; }
      } else {
        #pragma omp parallel for schedule(static)
        for(size_t i=0;i<n/384;i++) for(int j=0;j<384;j++) o[i*384+j]=x[i*384+j]+b[j];
      }
      printf(r?",%.4f":"%.4f",now()-t0);}
    printf("]\n");fflush(stdout);
  }
}
