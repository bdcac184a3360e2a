/*
 * mdlos.h: the umbrella header for drivers and tests, the way a WDM driver
 * includes wdm.h. Subsystem headers join here as they are built.
 */
#pragma once
#include "kernel/ke/ke.h"
#include "kernel/ktest/ktest.h"
#include "io/io.h"
